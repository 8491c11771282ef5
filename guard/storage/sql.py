"""SQL in the driver's own terms, for the hot paths (decisions, the audit chain, bulk writes).

SQLAlchemy's per-statement work (compilation cache keys, result processing, session bookkeeping) costs
more than the database itself for the small statements of a decision. `Sql` talks to the DBAPI
connection directly: queries are written once with `?` placeholders, times and JSON are converted here,
and driver errors come out as SQLAlchemy's own exception classes, so one error mapping serves both paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session

from guard.core.timeutil import as_utc

Row = tuple[Any, ...]
_PG_TEXT: dict[str, str] = {}
_COLUMN_TYPES: dict[str, dict[str, tuple[str, int]]] = {}
T = TypeVar("T")


def _pg(query: str) -> str:
    """The psycopg spelling of a `?` query (placeholders `%s`, literal percent signs doubled)."""
    text = _PG_TEXT.get(query)
    if text is None:
        text = _PG_TEXT[query] = query.replace("%", "%%").replace("?", "%s")
    return text


def sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME stores, so reads and comparisons agree."""
    if value is None:
        return None
    return as_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class Sql:
    """One DBAPI connection inside a transaction."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self.postgres = dialect == "postgresql"
        self.pipelining = False  # COPY cannot run in PostgreSQL's pipeline mode
        self.chain_locked = False  # this transaction holds the audit chain's lock (guard.ledger.chain)
        self._error = driver_error(dialect)

    @classmethod
    def of_session(cls, session: Session) -> Sql:
        """The connection a session's transaction runs on, for raw statements inside that transaction."""
        connection = session.connection()
        return cls(connection.connection.driver_connection, connection.dialect.name)

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of a query."""
        cursor = self._execute(query, params)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, query: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        cursor = self._execute(query, params)
        try:
            row = cursor.fetchone()
            return tuple(row) if row is not None else None
        finally:
            cursor.close()

    def later(self, query: str, params: Sequence[Any] = ()) -> Pending[list[Row]]:
        """Send a query now, read its rows when asked: inside `pipelined`, every query sent before the first
        one is read comes back in that one round trip. Elsewhere the rows are read at once, as `rows` does
        (an unread SQLite statement would hold its read transaction open)."""
        if not self.pipelining:
            return Pending.done(self.rows(query, params))
        cursor = self._execute(query, params)

        def rows() -> list[Row]:
            try:
                return list(cursor.fetchall())
            except self._error as exc:
                raise wrapped(query, exc, self._error) from exc
            finally:
                cursor.close()

        return Pending(rows)

    def run(self, query: str, params: Sequence[Any] = (), prepare: bool | None = None) -> None:
        """A statement whose result is not needed; `prepare` False keeps a one-off text from being prepared
        on PostgreSQL (by default every statement is: see `database.PREPARE_THRESHOLD`)."""
        self._execute(query, params, prepare).close()

    def many(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement for many parameter rows (executemany)."""
        cursor = self.connection.cursor()
        text = _pg(query) if self.postgres else query
        try:
            cursor.executemany(text, rows)
        except self._error as exc:
            raise wrapped(query, exc, self._error) from exc
        finally:
            cursor.close()

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """PostgreSQL binary COPY FROM STDIN of many rows (JSON columns given as text)."""
        from psycopg.types.json import set_json_dumps

        query = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        known = self._columns(table, columns)
        cursor = self.connection.cursor()
        set_json_dumps(_as_is, context=cursor)  # our JSON is serialised already: sent as it is
        try:
            with cursor.copy(query) as copy:
                copy.set_types([known[c][1] for c in columns])
                for row in rows:
                    copy.write_row(row)
        except self._error as exc:
            raise wrapped(query, exc, self._error) from exc
        finally:
            cursor.close()

    def _columns(self, table: str, columns: Sequence[str]) -> dict[str, tuple[str, int]]:
        """Each column's type name and oid, read from the catalog once per process and table (Guard's schema
        changes only by migration, before serving)."""
        known = _COLUMN_TYPES.get(table)
        if known is None or any(c not in known for c in columns):
            rows = self.rows("SELECT attname, format_type(atttypid, atttypmod), CAST(atttypid AS integer) "
                             "FROM pg_attribute WHERE attrelid = CAST(? AS regclass) AND attnum > 0 "
                             "AND NOT attisdropped", (table,))
            known = _COLUMN_TYPES[table] = {name: (kind, oid) for name, kind, oid in rows}
        return known

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """PostgreSQL pipeline mode for the block (nothing on SQLite); no COPY inside it."""
        if not self.postgres:
            yield
            return
        self.pipelining = True
        try:
            with self.connection.pipeline():
                yield
        except self._error as exc:
            raise wrapped("pipeline", exc, self._error) from exc
        finally:
            self.pipelining = False

    def time(self, value: datetime | None) -> Any:
        """A datetime as this driver stores it (text on SQLite, aware datetime on PostgreSQL)."""
        return value if self.postgres else sqlite_time(value)

    def read_time(self, value: Any) -> datetime | None:
        """A stored datetime as an aware UTC datetime."""
        if value is None:
            return None
        return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)

    def read_json(self, value: Any) -> Any:
        """A stored JSON value (text on SQLite, already parsed on PostgreSQL)."""
        return json.loads(value) if isinstance(value, str | bytes) else value

    def _execute(self, query: str, params: Sequence[Any], prepare: bool | None = None) -> Any:
        cursor = self.connection.cursor()
        try:
            if self.postgres:
                cursor.execute(_pg(query), params, prepare=prepare)
            else:
                cursor.execute(query, params)
        except self._error as exc:
            cursor.close()
            raise wrapped(query, exc, self._error) from exc
        return cursor


class Pending(Generic[T]):
    """A result that was asked for and is read on first use (see `Sql.later`); read once, then kept."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read: Callable[[], T] | None = read
        self._value: T | None = None

    def __call__(self) -> T:
        if self._read is not None:
            self._value, self._read = self._read(), None
        return self._value  # type: ignore[return-value]

    @classmethod
    def done(cls, value: T) -> Pending[T]:
        """A result known already."""
        pending: Pending[T] = cls(lambda: value)
        return pending


def _as_is(text: Any) -> Any:
    return text


def driver_error(dialect: str) -> type[Exception]:
    """The base class of the driver's errors."""
    if dialect == "postgresql":
        import psycopg

        return psycopg.Error
    import sqlite3

    return sqlite3.Error


def wrapped(query: str, exc: Exception, base: type[Exception]) -> StatementError:
    """The SQLAlchemy exception (IntegrityError, OperationalError, ...) for a driver error."""
    return DBAPIError.instance(query, None, exc, base)


# SQLite allows 32,766 parameters per statement; PostgreSQL takes one array parameter.
CHUNK = 1000


def chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """`values` in slices small enough for one statement."""
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def member_of(sql: Sql, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`column IN (values)`: one array parameter on PostgreSQL, one placeholder each on SQLite."""
    if sql.postgres:
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)
