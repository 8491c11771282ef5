"""The decision log's own reads and writes on the hot path: idempotent repeats, ids, rows, stored answers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from guard.decisions.answer import stored_answer
from guard.decisions.holding import views_by_decision
from guard.situation.history import reasons_of
from guard.storage.bulk import DECISION_COLUMNS, REASON_COLUMNS, insert_tuples
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
    sent now, read on first use (their reasons, for the few found, then)."""
    by_scope: dict[int, list[str]] = defaultdict(list)
    for scope, key in sorted(keys):
        by_scope[scope].append(key)
    reads = []
    for scope, scoped in by_scope.items():
        for chunk in chunks(scoped):
            member, params = member_of(sql, "idempotency_key", chunk)
            reads.append((scope, sql.later(
                f"SELECT id, idempotency_key, decision_id, request_hash, outcome, route, defer_until, "
                f"rules_version, evaluated_at FROM decisions WHERE idempotency_scope = ? AND {member}",
                [scope, *params])))

    def found() -> dict[tuple[int, str], StoredDecision]:
        out: dict[tuple[int, str], StoredDecision] = {}
        for scope, read in reads:
            rows = read()
            reasons = reasons_of(sql, [row[0] for row in rows])
            holds = views_by_decision(sql, [row[2] for row in rows if row[4] == "hold"])
            for pk, key, decision_id, request_hash, outcome, route, defer_until, version, evaluated_at in rows:
                answer = stored_answer(decision_id, outcome, route, sql.read_time(defer_until),
                                       reasons.get(pk, []), version, sql.read_time(evaluated_at),
                                       holds.get(decision_id))
                out[(scope, key)] = StoredDecision(decision_id, request_hash, answer)
        return out

    return Pending(found)


def allocate_ids(sql: Sql, count: int) -> list[int]:
    """Primary keys for new decisions: from the sequence on PostgreSQL; on SQLite the write lock is held."""
    if sql.postgres:
        return [row[0] for row in sql.rows(
            "SELECT nextval(pg_get_serial_sequence('decisions', 'id')) FROM generate_series(1, ?)", (count,))]
    start = (sql.first("SELECT max(id) FROM decisions") or (None,))[0] or 0
    return list(range(start + 1, start + 1 + count))


def insert_decisions(sql: Sql, rows: list[tuple[Any, ...]], reasons: list[tuple[Any, ...]]) -> None:
    """Decision rows (DECISION_COLUMNS order, ids allocated, times already `sql.time`d) and their reason rows
    (REASON_COLUMNS order)."""
    insert_tuples(sql, "decisions", DECISION_COLUMNS, rows, prepared=True)
    insert_tuples(sql, "decision_reasons", REASON_COLUMNS, reasons)

