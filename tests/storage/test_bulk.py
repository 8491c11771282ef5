"""Bulk rows on both databases: a few (one multi-row INSERT, pipelined or not), many (binary COPY on
PostgreSQL), read back exactly; and reads sent together with `Sql.later`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError

from guard.storage.bulk import COPY_FROM, EVENT_COLUMNS, PREPARED_ROWS, insert_tuples
from guard.storage.database import Database

AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def _events(count: int, tag: str) -> list[tuple[object, ...]]:
    rows = []
    for n in range(count):
        data = json.dumps({"n": n, "text": "é ✓ \"quoted\" \\ back\nslash", "none": None})
        rows.append((f"{tag}-{n}", f"{tag}-customer-{n % 3}", "purchase.completed", AT + timedelta(seconds=n),
                     data, f"{n:064d}", AT))
    return rows


def _stored(db: Database, tag: str) -> list[tuple[object, ...]]:
    with db.raw_reads() as sql:
        rows = sql.rows(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE event_id LIKE ? ORDER BY occurred_at",
                        (f"{tag}-%",))
        return [(e, c, t, sql.read_time(o), sql.read_json(d), h, sql.read_time(r)) for e, c, t, o, d, h, r in rows]


@pytest.mark.parametrize(("count", "small"), [(1, True), (7, True), (7, False), (COPY_FROM + 25, False)],
                         ids=["one-pipelined", "few-pipelined", "few", "copy"])
def test_rows_are_stored_exactly(db: Database, count: int, small: bool):
    tag = f"bulk{count}{small}"
    rows = _events(count, tag)
    with db.raw_transaction(small=small) as sql:
        insert_tuples(sql, "events", EVENT_COLUMNS, rows)
    expected = [(e, c, t, o, json.loads(d), h, r) for e, c, t, o, d, h, r in rows]
    assert _stored(db, tag) == expected


def test_only_small_row_counts_are_prepared(db: Database):
    """A single decision's insert is prepared; a large group's is not (it would crowd out the hot ones)."""
    for n, count in enumerate((1, 2, 1, PREPARED_ROWS + 1)):
        with db.raw_transaction(small=True) as sql:
            insert_tuples(sql, "events", EVENT_COLUMNS, _events(count, f"texts{n}"))
    if db.engine.dialect.name == "postgresql":
        with db.raw_reads() as sql:
            inserts = sql.rows("SELECT statement FROM pg_prepared_statements "
                               "WHERE statement LIKE 'INSERT INTO events%'")
        assert sorted(statement.count("), (") + 1 for (statement,) in inserts) == [1, 2], inserts


def test_reads_sent_together_come_back_in_order(db: Database):
    with db.raw_transaction(small=True) as sql:
        insert_tuples(sql, "events", EVENT_COLUMNS, _events(3, "later"))
    with db.raw_transaction(small=True) as sql:
        first = sql.later("SELECT count(*) FROM events WHERE event_id LIKE ?", ("later-%",))
        second = sql.later("SELECT event_id FROM events WHERE event_id LIKE ? ORDER BY event_id", ("later-%",))
        assert second() == [("later-0",), ("later-1",), ("later-2",)]
        assert first() == [(3,)]
        assert first() == [(3,)]  # read once, kept


def test_a_failing_read_sent_together_rolls_the_transaction_back(db: Database):
    with pytest.raises(DBAPIError), db.raw_transaction(small=True) as sql:
        insert_tuples(sql, "events", EVENT_COLUMNS, _events(2, "failed"))
        sql.later("SELECT no_such_column FROM events")()
    assert _stored(db, "failed") == []
