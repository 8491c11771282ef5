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
from guard.storage.sql import Sql, chunks, member_of

MARKER_PREFIX = "suppression:"  # the event id a suppression marker takes in a situation
_MARKERS = "SELECT id, customer_digest, channel, purpose, since FROM suppressions"


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
    """Serialise decisions per customer so frequency caps count every earlier decision."""
    if not sql.postgres or not customers:
        return  # SQLite: the write transaction began IMMEDIATE, which already serialises writers.
    # Locks are taken in one fixed order, so two batches never wait on each other in a cycle.
    sql.run("SELECT pg_advisory_xact_lock(k) FROM "
            "(SELECT DISTINCT hashtext(c) AS k FROM unnest(CAST(? AS text[])) AS c) s ORDER BY k",
            (sorted(customers),))


def identities_of(sql: Sql, customers: Sequence[str]) -> Identities:
    """The identity links of the names asked about, in one indexed read per chunk: a name is either a
    customer id with aliases, or an alias of one (then all its siblings are read too)."""
    canonical: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    for chunk in chunks(customers):
        by_alias, params = member_of(sql, "alias", chunk)
        by_customer, more = member_of(sql, "customer_id", chunk)
        # A UNION of two index lookups: PostgreSQL plans the same condition written with OR as a full scan.
        rows = sql.rows(f"SELECT alias, customer_id FROM customer_aliases WHERE {by_customer} UNION "
                        f"SELECT a.alias, a.customer_id FROM customer_aliases a JOIN customer_aliases b "
                        f"ON a.customer_id = b.customer_id WHERE b.{by_alias}", [*more, *params])
        for alias, customer_id in rows:
            canonical[alias] = canonical[customer_id] = customer_id
            names.setdefault(customer_id, [customer_id]).append(alias)
    return Identities(canonical, names)


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
    """The customers' events that occurred by `until` and are of a `whole` type, or of a `recent` type and
    occurred at or after `since` (what a decision can ask about, however long a customer's history), with
    the suppression markers left by erasing them."""
    out: dict[str, list[EventRecord]] = defaultdict(list)
    selections = [(whole, None), *([(recent, since)] if since is not None else [])]
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
        rows = sql.rows(" UNION ALL ".join(parts), params) if parts else []
        for customer_id, event_id, type_, occurred_at, data in rows:
            out[customer_id].append(EventRecord(event_id, type_, sql.read_time(occurred_at),  # type: ignore[arg-type]
                                                sql.read_json(data) or {}))
    # Markers are read after the events: an erasure committing in between (it deletes the events and leaves
    # the markers at once) is then seen by the second read if it was by the first.
    for customer_id, markers in markers_of(sql, customers).items():
        out[customer_id].extend(markers)
    return out


def markers_of(sql: Sql, customers: Sequence[str]) -> dict[str, list[EventRecord]]:
    """The consent withdrawals left by erasing each customer, as the events they were; most have none."""
    out: dict[str, list[EventRecord]] = defaultdict(list)
    rows: list[Any] | None = None
    if len(customers) > 1:
        # While there are no more markers than customers asked about, reading them all beats looking each
        # customer up (a chunk without markers costs one empty read).
        rows = sql.rows(f"{_MARKERS} ORDER BY id LIMIT ?", (len(customers) + 1,))
        if not rows:
            return out
    digests: dict[str, list[str]] = defaultdict(list)
    for customer in customers:
        digests[customer_digest(customer)].append(customer)
    if rows is None or len(rows) > len(customers):
        rows = []
        for chunk in chunks(sorted(digests)):
            member, params = member_of(sql, "customer_digest", chunk)
            rows.extend(sql.rows(f"{_MARKERS} WHERE {member}", params))
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
    """Earlier decisions of the customers sent in (start, end], with the rules that matched each."""
    out: dict[str, list[PriorDecision]] = defaultdict(list)
    for chunk in chunks(customers):
        member, params = member_of(sql, "customer_id", chunk)
        # The matched rules are inline in the row: caps never wait for the projector's reason rows.
        rows = sql.rows(f"SELECT customer_id, send_at, purpose, channel, outcome, campaign_id, reasons FROM decisions "
                        f"WHERE {member} AND send_at > ? AND send_at <= ?",
                        [*params, sql.time(start), sql.time(end)])
        for customer_id, send_at, purpose, channel, outcome, campaign_id, reasons in rows:
            rule_ids = tuple(r["rule_id"] for r in sql.read_json(reasons) or ())
            out[customer_id].append(PriorDecision(sql.read_time(send_at), purpose, channel,  # type: ignore[arg-type]
                                                  outcome, campaign_id, rule_ids))
    return out

