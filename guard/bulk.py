"""Bulk insertion of audit rows straight through the driver's executemany.

A campaign writes hundreds of thousands of rows; SQLAlchemy's per-row parameter processing costs more
than the database itself, so rows are prepared here in the driver's own terms (times as SQLAlchemy's
SQLite text format, or aware datetimes for PostgreSQL; JSON already serialised).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

DECISION_COLUMNS = (
    "id", "decision_id", "customer_id", "campaign_id", "channel", "purpose", "send_at", "outcome", "route",
    "defer_until", "rules_version", "evaluated_at", "idempotency_key", "request_hash", "request", "facts",
    "api_key_name",
)
REASON_COLUMNS = ("decision_pk", "position", "rule_id", "outcome", "explanation")
EVENT_COLUMNS = ("event_id", "customer_id", "type", "occurred_at", "data", "content_hash", "received_at")
_TIMES = {"send_at", "defer_until", "evaluated_at", "at", "occurred_at", "received_at"}
_JSON = {"request", "facts", "data"}


def _sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME stores, so reads and comparisons agree."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _statement(dialect: str, table: str, columns: Sequence[str]) -> str:
    pg = dialect == "postgresql"
    marks = [("%s::json" if c in _JSON else "%s") if pg else "?" for c in columns]
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"


def insert_rows(session: Session, table: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """executemany of `rows` (dicts keyed by column) into `table`."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    times = [i for i, c in enumerate(columns) if c in _TIMES]
    params = []
    for row in rows:
        values = [row[c] for c in columns]
        if dialect == "sqlite":
            for i in times:
                values[i] = _sqlite_time(values[i])
        params.append(tuple(values))
    session.connection().exec_driver_sql(_statement(dialect, table, columns), params)
