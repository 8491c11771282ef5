"""The decision log's own reads and writes on the hot path: idempotent repeats, ids, rows, stored answers.

Everything here reads and writes the decision row alone (its matched rules are inline): nothing on the hot
path waits for the projector's index (guard.decisions.projector).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from guard.decisions.answer import stored_answer
from guard.decisions.holding import views_by_decision
from guard.ledger.chain import CHAIN_LOCK, LOCK_CHAIN
from guard.storage.bulk import DECISION_COLUMNS, insert_tuples
from guard.storage.sql import Pending, Sql, chunks, member_of


@dataclass(frozen=True)
class StoredDecision:
    """An earlier decision as an idempotent repeat needs it: the request's hash and the answer given."""

    decision_id: str
    request_hash: str
    answer: dict[str, Any]


def by_idempotency_keys(sql: Sql, keys: set[tuple[int, str]]) -> dict[tuple[int, str], StoredDecision]:
    """The decisions already recorded under these (scope, idempotency key) pairs (see `later`)."""
    return by_idempotency_keys_later(sql, keys)()


def by_idempotency_keys_later(sql: Sql, keys: set[tuple[int, str]]
                              ) -> Pending[dict[tuple[int, str], StoredDecision]]:
    """The decisions already recorded under these (scope, idempotency key) pairs, with the answers they gave;
    sent now, read on first use."""
    by_scope: dict[int, list[str]] = defaultdict(list)
    for scope, key in sorted(keys):
        by_scope[scope].append(key)
    reads = []
    for scope, scoped in by_scope.items():
        for chunk in chunks(scoped):
            member, params = member_of(sql, "idempotency_key", chunk)
            reads.append((scope, sql.later(
                f"SELECT idempotency_key, decision_id, request_hash, outcome, route, defer_until, "
                f"rules_version, evaluated_at, reasons FROM decisions WHERE idempotency_scope = ? AND {member}",
                [scope, *params])))

    def found() -> dict[tuple[int, str], StoredDecision]:
        out: dict[tuple[int, str], StoredDecision] = {}
        for scope, read in reads:
            rows = read()
            holds = views_by_decision(sql, [row[1] for row in rows if row[3] == "hold"])
            for key, decision_id, request_hash, outcome, route, defer_until, version, evaluated_at, reasons in rows:
                answer = stored_answer(decision_id, outcome, route, sql.read_time(defer_until),
                                       sql.read_json(reasons) or [], version, sql.read_time(evaluated_at),
                                       holds.get(decision_id))
                out[(scope, key)] = StoredDecision(decision_id, request_hash, answer)
        return out

    return Pending(found)


def allocate_ids(sql: Sql, count: int) -> list[int]:
    """Primary keys for new decisions, in commit order: the projector reads the log by id and must never pass
    an id that commits later. On SQLite the write lock is held; on PostgreSQL the sequence is read under the
    chain's lock, which this transaction would take anyway and holds to commit."""
    if sql.postgres:
        # One statement: the lock (a volatile CTE, evaluated once and first) and then the ids.
        ids = [row[0] for row in sql.rows(
            f"WITH chain AS ({LOCK_CHAIN}) SELECT nextval(pg_get_serial_sequence('decisions', 'id')) "
            "FROM chain, generate_series(1, ?)", (CHAIN_LOCK, count))]
        sql.chain_locked = True
        return ids
    # Past the projector's cursor too: after a purge removed the newest decisions, their ids are never reused
    # (a reused id at or below the cursor would never be projected).
    start = (sql.first("SELECT max(COALESCE((SELECT max(id) FROM decisions), 0), "
                       "COALESCE((SELECT upto FROM projections WHERE name = 'decisions'), 0))") or (0,))[0]
    return list(range(start + 1, start + 1 + count))


def insert_decisions(sql: Sql, rows: list[tuple[Any, ...]]) -> None:
    """Decision rows (DECISION_COLUMNS order, ids allocated, times already `sql.time`d, reasons as JSON text)."""
    insert_tuples(sql, "decisions", DECISION_COLUMNS, rows, prepared=True)

