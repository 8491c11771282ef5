"""A situation's history as the hot path reads it, set-wise and in the driver's terms: who each name is, the
events and suppression markers of a set of customers, and their earlier decisions (for frequency caps)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guard.core.message import PriorDecision
from guard.ledger.digests import customer_digest
from guard.situation.derive import EventRecord
from guard.storage.sql import Pending, Sql, chunks, member_of

MARKER_PREFIX = "suppression:"  # the event id a suppression marker takes in a situation
_MARKERS = "SELECT id, customer_digest, channel, purpose, since FROM suppressions"
# Customers' locks: rows of this table, one per hash bucket, pre-filled by migration 0017 (which must change with
# LOCK_BUCKETS). PostgreSQL keeps row locks in the rows, not in its bounded shared lock table, so their number
# needs no bound and the buckets can be many.
LOCK_TABLE = "customer_lock_buckets"
LOCK_BUCKETS = 2**18  # a power of two: a bucket is the low bits of hashtext


@dataclass(frozen=True)
class Identities:
    """Who each name asked about is: the customer id it is linked to, and every name of that customer."""

    canonical: dict[str, str]  # a linked name (alias or customer id) -> the customer id
    names: dict[str, list[str]]  # a linked customer id -> the id and its aliases

    def of(self, name: str) -> str:
        """The customer id a name stands for (itself when it has no links)."""
        return self.canonical.get(name, name)

    def members(self, name: str) -> list[str]:
        """Every name whose events and decisions make up this name's situation."""
        return self.names.get(self.of(name), [name])


def lock_customers(sql: Sql, customers: set[str]) -> None:
    """Serialise decisions per customer so frequency caps count every earlier decision (see `lock_statement`)."""
    if not sql.postgres or not customers:
        return  # SQLite: the write transaction began IMMEDIATE, which already serialises writers.
    sql.run(lock_statement("SELECT unnest(CAST(? AS text[])) AS c"), (sorted(customers),))


def lock_customers_as_asked(sql: Sql, asked: Sequence[str]) -> None:
    """`lock_customers` of the names asked about and of the customer id each alias among them stands for
    (decisions asked under two aliases count each other), found by the database in the same statement,
    so the lock needs no earlier read of the links."""
    if not sql.postgres or not asked:
        return
    sql.run(lock_statement("SELECT unnest(CAST(? AS text[])) AS c UNION "
                           "SELECT customer_id FROM customer_aliases WHERE alias = ANY(?)"),
            (sorted(asked), sorted(asked)))


def lock_statement(names: str) -> str:
    """The statement locking the bucket row of every name `names` (a query of one column, c) yields, in order."""
    # Row locks, not advisory locks: a 10,000-id batch would need 10,000 entries of PostgreSQL's shared lock
    # table (max_locks_per_transaction x connections, about 6,400 by default; full, it fails every session's
    # transactions), while rows locked FOR UPDATE take none (a waiter takes two while it waits).
    # So buckets can be many and false sharing rare: a chunk of 2,000 customers holds 0.8% of them (a batch of
    # 10,000 3.7%), and a single decision for an unrelated customer seldom waits for it (bench/RESULTS.md,
    # "Per-customer locks"). LockRows locks rows as the ORDER BY yields them (here the index scan of `= ANY`:
    # sorted, distinct keys), so no two transactions wait on each other in a cycle. A bucket table that lost
    # rows fails the statement (the ELSE's cast) instead of silently no longer serialising; sent without
    # waiting for an answer (`run`), so a pipelined transaction keeps its one round trip.
    # The buckets are computed once (a materialised CTE: a subquery would be flattened into each use).
    return (f"WITH b AS MATERIALIZED (SELECT ARRAY(SELECT DISTINCT hashtext(c) & {LOCK_BUCKETS - 1} "
            f"FROM ({names}) n) AS k) SELECT CASE WHEN cardinality(k) = (SELECT count(*) FROM (SELECT bucket "
            f"FROM {LOCK_TABLE} WHERE bucket = ANY(k) ORDER BY bucket FOR UPDATE) l) THEN 0 "
            f"ELSE CAST('{LOCK_TABLE} lacks buckets, of ' || cardinality(k) AS integer) END FROM b")


def identities_of(sql: Sql, customers: Sequence[str]) -> Identities:
    """The identity links of the names asked about (see `identities_later`)."""
    return identities_later(sql, customers)()


def identities_later(sql: Sql, customers: Sequence[str]) -> Pending[Identities]:
    """The identity links of the names asked about, in one indexed read per chunk: a name is either a
    customer id with aliases, or an alias of one (then all its siblings are read too). Sent now, read when
    the result is first used (so it shares a round trip with what is sent meanwhile)."""
    reads = []
    for chunk in chunks(customers):
        by_alias, params = member_of(sql, "alias", chunk)
        by_customer, more = member_of(sql, "customer_id", chunk)
        # A UNION of two index lookups: PostgreSQL plans the same condition written with OR as a full scan.
        reads.append(sql.later(f"SELECT alias, customer_id FROM customer_aliases WHERE {by_customer} UNION "
                               f"SELECT a.alias, a.customer_id FROM customer_aliases a JOIN customer_aliases b "
                               f"ON a.customer_id = b.customer_id WHERE b.{by_alias}", [*more, *params]))

    def identities() -> Identities:
        canonical: dict[str, str] = {}
        names: dict[str, list[str]] = {}
        for read in reads:
            for alias, customer_id in read():
                canonical[alias] = canonical[customer_id] = customer_id
                names.setdefault(customer_id, [customer_id]).append(alias)
        return Identities(canonical, names)

    return Pending(identities)


def combined(per_name: dict[str, list[Any]], identities: Identities, customers: Sequence[str]
             ) -> dict[str, list[Any]]:
    """Rows read per name, gathered under each customer id (the asked name when it has no links)."""
    out: dict[str, list[Any]] = {}
    for name in customers:
        key = identities.of(name)
        if key not in out:
            out[key] = [row for member in identities.members(name) for row in per_name.get(member, ())]
    return out


def events_of(sql: Sql, customers: Sequence[str], until: datetime, whole: Sequence[str], recent: Sequence[str] = (),
              since: datetime | None = None) -> dict[str, list[EventRecord]]:
    """The customers' events the rules can ask about (see `events_later`)."""
    return events_later(sql, customers, until, whole, recent, since)()


def events_later(sql: Sql, customers: Sequence[str], until: datetime, whole: Sequence[str],
                 recent: Sequence[str] = (), since: datetime | None = None) -> Pending[dict[str, list[EventRecord]]]:
    """The customers' events that occurred by `until` and are of a `whole` type, or of a `recent` type and
    occurred at or after `since` (what a decision can ask about, however long a customer's history), with
    the suppression markers left by erasing them; sent now, read on first use."""
    selections = [(whole, None), *([(recent, since)] if since is not None else [])]
    reads = []
    for chunk in chunks(customers):
        # One SELECT per kind of bound, so that each is a range of the (customer, type, time) index.
        parts: list[str] = []
        params: list[Any] = []
        for types, start in selections:
            if not types:
                continue
            member, customer_params = member_of(sql, "customer_id", chunk)
            kinds, type_params = member_of(sql, "type", sorted(types))
            bounds = "occurred_at <= ?" + (" AND occurred_at >= ?" if start is not None else "")
            parts.append(f"SELECT customer_id, event_id, type, occurred_at, data FROM events "
                         f"WHERE {member} AND {kinds} AND {bounds}")
            params += [*customer_params, *type_params, sql.time(until)]
            if start is not None:
                params.append(sql.time(start))
        if parts:
            reads.append(sql.later(" UNION ALL ".join(parts), params))
    # Markers are read after the events: an erasure committing in between (it deletes the events and leaves
    # the markers at once) is then seen by the second read if it was by the first.
    markers = markers_later(sql, customers)

    def events() -> dict[str, list[EventRecord]]:
        out: dict[str, list[EventRecord]] = defaultdict(list)
        for read in reads:
            for customer_id, event_id, type_, occurred_at, data in read():
                out[customer_id].append(EventRecord(event_id, type_, sql.read_time(occurred_at),  # type: ignore[arg-type]
                                                    sql.read_json(data) or {}))
        for customer_id, found in markers().items():
            out[customer_id].extend(found)
        return out

    return Pending(events)


def markers_of(sql: Sql, customers: Sequence[str]) -> dict[str, list[EventRecord]]:
    """The consent withdrawals left by erasing each customer (see `markers_later`)."""
    return markers_later(sql, customers)()


def markers_later(sql: Sql, customers: Sequence[str]) -> Pending[dict[str, list[EventRecord]]]:
    """The consent withdrawals left by erasing each customer, as the events they were; most have none.
    Sent now, read on first use."""
    digests: dict[str, list[str]] = defaultdict(list)
    for customer in customers:
        digests[customer_digest(customer)].append(customer)
    if len(customers) > 1:
        # While there are no more markers than customers asked about, reading them all beats looking each
        # customer up (a chunk without markers costs one empty read).
        every = sql.later(f"{_MARKERS} ORDER BY id LIMIT ?", (len(customers) + 1,))
        return Pending(lambda: _markers_named(sql, digests, len(customers), every()))
    by_digest = _markers_by_digest(sql, digests)
    return Pending(lambda: _markers_named(sql, digests, len(customers), by_digest()))


def _markers_by_digest(sql: Sql, digests: dict[str, list[str]]) -> Pending[list[Any]]:
    reads = []
    for chunk in chunks(sorted(digests)):
        member, params = member_of(sql, "customer_digest", chunk)
        reads.append(sql.later(f"{_MARKERS} WHERE {member}", params))
    return Pending(lambda: [row for read in reads for row in read()])


def _markers_named(sql: Sql, digests: dict[str, list[str]], asked: int, rows: list[Any]
                   ) -> dict[str, list[EventRecord]]:
    out: dict[str, list[EventRecord]] = defaultdict(list)
    if len(rows) > asked:  # more markers than customers: look the customers up after all
        rows = _markers_by_digest(sql, digests)()
    for id_, digest, channel, purpose, since in rows:
        named = digests.get(digest)
        if named:
            record = EventRecord(f"{MARKER_PREFIX}{id_}", "consent.withdrawn", sql.read_time(since),  # type: ignore[arg-type]
                                 {"channel": channel, "purpose": purpose})
            for customer in named:
                out[customer].append(record)
    return out


def history_of(sql: Sql, customers: Sequence[str], start: datetime, end: datetime
               ) -> dict[str, list[PriorDecision]]:
    """Earlier decisions of the customers sent in (start, end] (see `history_later`)."""
    return history_later(sql, customers, start, end)()


def history_later(sql: Sql, customers: Sequence[str], start: datetime, end: datetime
                  ) -> Pending[dict[str, list[PriorDecision]]]:
    """Earlier decisions of the customers sent in (start, end], with the rules that matched each; sent now,
    read on first use."""
    reads = []
    for chunk in chunks(customers):
        member, params = member_of(sql, "customer_id", chunk)
        # The matched rules are inline in the row: caps never wait for the projector's index.
        reads.append(sql.later(f"SELECT customer_id, send_at, purpose, channel, outcome, campaign_id, reasons "
                               f"FROM decisions WHERE {member} AND send_at > ? AND send_at <= ?",
                               [*params, sql.time(start), sql.time(end)]))

    def history() -> dict[str, list[PriorDecision]]:
        out: dict[str, list[PriorDecision]] = defaultdict(list)
        for read in reads:
            for customer_id, send_at, purpose, channel, outcome, campaign_id, reasons in read():
                rule_ids = rule_ids_of(sql, reasons)
                out[customer_id].append(PriorDecision(sql.read_time(send_at), purpose, channel,  # type: ignore[arg-type]
                                                      outcome, campaign_id, rule_ids))
        return out

    return Pending(history)


def rule_ids_of(sql: Sql, reasons: Any) -> tuple[str, ...]:
    """The ids of the rules a decision row's inline reasons name, in order (most name none: no parse)."""
    if not reasons or reasons == "[]":
        return ()
    return tuple(r["rule_id"] for r in sql.read_json(reasons))
