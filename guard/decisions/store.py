"""The decision log's own reads and writes on the hot path: idempotent repeats, ids, rows, stored answers.

Everything here reads and writes the decision row alone (its matched rules are inline): nothing on the hot
path waits for the projector's reason rows and facets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from guard.decisions.answer import stored_answer
from guard.storage.bulk import DECISION_COLUMNS, insert_tuples
from guard.storage.sql import Sql, chunks, member_of


@dataclass(frozen=True)
class StoredDecision:
    """An earlier decision as an idempotent repeat needs it: the request's hash and the answer given."""

    decision_id: str
    request_hash: str
    answer: dict[str, Any]


def by_idempotency_keys(sql: Sql, keys: set[tuple[int, str]]) -> dict[tuple[int, str], StoredDecision]:
    """The decisions already recorded under these (scope, idempotency key) pairs, with the answers they gave."""
    found: dict[tuple[int, str], StoredDecision] = {}
    by_scope: dict[int, list[str]] = defaultdict(list)
    for scope, key in sorted(keys):
        by_scope[scope].append(key)
    for scope, scoped in by_scope.items():
        for chunk in chunks(scoped):
            member, params = member_of(sql, "idempotency_key", chunk)
            rows = sql.rows(f"SELECT idempotency_key, decision_id, request_hash, outcome, route, defer_until, "
                            f"rules_version, evaluated_at, reasons FROM decisions WHERE idempotency_scope = ? "
                            f"AND {member}", [scope, *params])
            for key, decision_id, request_hash, outcome, route, defer_until, version, evaluated_at, reasons in rows:
                answer = stored_answer(decision_id, outcome, route, sql.read_time(defer_until),
                                       sql.read_json(reasons) or [], version, sql.read_time(evaluated_at))
                found[(scope, key)] = StoredDecision(decision_id, request_hash, answer)
    return found


# Any constant will do; it must be the same in every process writing to this database.
_LOG_LOCK = 0x6C6F67  # "log"


def allocate_ids(sql: Sql, count: int) -> list[int]:
    """Primary keys for new decisions, in commit order: the projector reads the log by id and must never
    pass an id that commits later. On SQLite the write lock is held; on PostgreSQL the sequence is read
    under a lock held to commit (taken after the customers' locks and before the chain's, so no cycle forms).
    """
    if sql.postgres:
        # One statement, the lock taken (by the materialised CTE) before the first nextval.
        return [row[0] for row in sql.rows(
            "WITH log AS (SELECT pg_advisory_xact_lock(?)) "
            "SELECT nextval(pg_get_serial_sequence('decisions', 'id')) FROM log, generate_series(1, ?)",
            (_LOG_LOCK, count))]
    start = (sql.first("SELECT max(id) FROM decisions") or (None,))[0] or 0
    return list(range(start + 1, start + 1 + count))


def insert_decisions(sql: Sql, rows: list[tuple[Any, ...]]) -> None:
    """Decision rows (DECISION_COLUMNS order, ids allocated, times already `sql.time`d, reasons as JSON text)."""
    insert_tuples(sql, "decisions", DECISION_COLUMNS, rows, prepared=True)

