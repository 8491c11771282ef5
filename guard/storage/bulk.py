"""Bulk insertion of audit rows straight through the driver.

A campaign writes hundreds of thousands of rows; SQLAlchemy's per-row parameter processing costs more
than the database itself, so rows are prepared here in the driver's own terms (times as SQLAlchemy's
SQLite text format, or aware datetimes for PostgreSQL; JSON already serialised). PostgreSQL takes many
with binary COPY, several times cheaper for the server than INSERTs, and a few with one multi-row INSERT;
SQLite takes them with one executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guard.storage.sql import Sql, sqlite_time

DECISION_COLUMNS = (
    "id", "decision_id", "customer_id", "campaign_id", "channel", "purpose", "send_at", "outcome", "route",
    "defer_until", "rules_version", "evaluated_at", "idempotency_key", "request_hash", "request", "facts",
    "api_key_name", "idempotency_scope", "audit_group", "audit_leaf", "audit_digest", "reasons",
)
EVENT_COLUMNS = ("event_id", "customer_id", "type", "occurred_at", "data", "content_hash", "received_at")
_TIMES = {"send_at", "defer_until", "evaluated_at", "at", "occurred_at", "received_at"}
# Fewer rows than this go in as one multi-row INSERT: COPY's own round trips cost more for a handful.
COPY_FROM = 50
# Multi-row INSERTs of up to this many rows are prepared on PostgreSQL (one statement per row count).
PREPARED_ROWS = 8


def insert_rows(sql: Sql, table: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by column; JSON columns as text) into `table`."""
    if rows:
        insert_tuples(sql, table, columns, [tuple(row[c] for c in columns) for row in rows])


def insert_tuples(sql: Sql, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]],
                  prepared: bool = False) -> None:
    """Insert rows given as tuples in `columns` order; times as datetimes (or already `sql.time`d when
    `prepared`), JSON as text."""
    if not rows:
        return
    times = [i for i, c in enumerate(columns) if c in _TIMES]
    if sql.postgres:
        if len(rows) >= COPY_FROM and not sql.pipelining:
            sql.copy(table, columns, rows)
            return
        marks = "(" + ", ".join("?" for _ in columns) + ")"  # a pipelined batch stays well below 65,535 values
        # Each row count is a statement of its own: the few common ones (a single decision, a small group
        # commit) are prepared on the server, larger ones are sent as they are, so they never crowd the
        # connection's prepared statements. (One array per column and `unnest` would be a single statement
        # for every count, but psycopg builds arrays in Python: 50-65 us more per insert, measured.)
        sql.run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(marks for _ in rows)}",
                [value for row in rows for value in row], prepare=len(rows) <= PREPARED_ROWS)
        return
    if times and not prepared:
        rows = [_with_sqlite_times(row, times) for row in rows]
    marks = ", ".join("?" for _ in columns)
    sql.many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _with_sqlite_times(row: tuple[Any, ...], times: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in times:
        values[i] = sqlite_time(values[i])
    return tuple(values)
