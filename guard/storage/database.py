"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, and sessions."""

from __future__ import annotations

import fcntl
import logging
import os
import select
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, DateTime, Executable, MetaData, create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from guard.core.timeutil import as_utc
from guard.storage.sql import Sql, driver_error, wrapped

log = logging.getLogger("guard.storage.database")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


WRITE_OPTION = "guard_write"


class Base(DeclarativeBase):
    """Base of every Guard table."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


def deleted_rows(session: Session, statement: Executable) -> int:
    """Run a DELETE and say how many rows it removed."""
    result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount)


# SQLite's own default: a COMMIT that leaves more pages than this in the log copies them home.
AUTOCHECKPOINT_PAGES = 1000
# How long a request waits for the database (to connect, for a lock, for a pooled connection) before it
# gives up with a 503: a locked or unreachable database must not hold every worker thread hostage.
DEFAULT_TIMEOUT = 10.0
# FULL: a COMMIT returns only once the WAL is synced, so an acknowledged decision or event survives a power
# failure (an audit log's promise); NORMAL syncs at checkpoints only and may lose the newest commits then.
DEFAULT_SYNCHRONOUS = "FULL"


def make_engine(url: str, timeout: float = DEFAULT_TIMEOUT, raw: bool = False,
                synchronous: str = DEFAULT_SYNCHRONOUS, **kwargs: Any) -> Engine:
    """An engine with the settings Guard relies on: real transactions on SQLite, pre-ping on PostgreSQL.

    `raw`: PostgreSQL connections for `Sql`, in autocommit (a read is one round trip; transactions say
    BEGIN themselves) and without the pre-ping round trip (a dead connection is retried at BEGIN instead).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False},
                               pool_timeout=timeout, pool_use_lifo=True, **kwargs)
        _sqlite_transactions(engine, timeout, synchronous)
        return engine
    # synchronous_commit=on whatever the server's default: an acknowledged write is on disk (see SQLite's FULL).
    connect_args = {"connect_timeout": max(1, round(timeout)),
                    "options": f"-c lock_timeout={int(timeout * 1000)} -c synchronous_commit=on"}
    engine = create_engine(url, pool_pre_ping=not raw, pool_size=5, max_overflow=10, pool_timeout=timeout,
                           connect_args=connect_args, **kwargs)
    if raw:
        event.listen(engine, "connect", _raw_connection)
    return engine


# Every statement `Sql` sends is prepared on the server the first time a connection sends it (psycopg's
# default waits for the sixth): the hot path's statements have a fixed text, so each is parsed and planned
# once per connection and then travels as a name and its parameters. psycopg keeps the 100 most recently
# used per connection and deallocates the others; a new connection (after a restart) starts afresh.
PREPARE_THRESHOLD = 0


def _raw_connection(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.autocommit = True
    dbapi_connection.prepare_threshold = PREPARE_THRESHOLD


def _sqlite_transactions(engine: Engine, timeout: float = DEFAULT_TIMEOUT,
                         synchronous: str = DEFAULT_SYNCHRONOUS) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions (so SAVEPOINT works), enable WAL, set `synchronous`."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the lock up front (IMMEDIATE), so two of them never deadlock upgrading read locks;
        # readers stay DEFERRED and, with WAL, never wait for a writer.
        write = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class _WriterLock:
    """Queues SQLite writers of every process on an OS file lock, waiting at most `timeout` seconds for it.

    SQLite's own busy handler polls with sleeps of up to 100 ms, so two contending workers wait far longer
    than the write takes; a blocking flock hands the lock over the moment it is released. A blocking flock
    cannot be given up, so a contended one is waited for in a helper thread that the caller waits on with
    its deadline: a caller that gives up leaves the helper's pending request to the next caller of this
    process, or, if nobody wants it any more, the helper lets go of the lock as soon as it gets it.
    """

    def __init__(self, database_path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.database_path = database_path
        self._path = database_path + "-guard.lock"
        self.timeout = timeout
        self._fd: int | None = None
        self._threads = threading.Lock()
        self._state = threading.Lock()  # guards the three fields below, never held while waiting
        self._granted: threading.Event | None = None  # set by the helper once its pending flock is held
        self._wanted = False  # a caller waits for the pending flock

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        """Wait for the lock (threads of this process, then other processes); OperationalError after `timeout`."""
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise self._timed_out()
        try:
            granted = self._request()
            if granted is None or granted.wait(max(0.0, deadline - time.monotonic())):
                self._taken()
                return
            with self._state:
                self._wanted = False
                if granted.is_set():  # granted while we gave up: take it after all
                    self._granted = None
                    return
            raise self._timed_out()
        except BaseException:
            self._threads.release()
            raise

    def _request(self) -> threading.Event | None:
        """None when the lock is ours at once; else the event the (new or pending) helper's flock sets."""
        with self._state:
            if self._granted is None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return None
                except BlockingIOError:
                    granted = threading.Event()
                    try:
                        threading.Thread(target=self._wait_for_flock, args=(self._fd, granted),
                                         name="guard-writer-lock", daemon=True).start()
                    except RuntimeError:  # no thread to be had: as if the lock were not had in time
                        raise self._timed_out() from None
                    self._granted = granted
            self._wanted = True
            return self._granted

    def _taken(self) -> None:
        with self._state:
            self._granted = None
            self._wanted = False

    def _wait_for_flock(self, fd: int, granted: threading.Event) -> None:
        """The helper: block for the flock, then hand it to the waiting caller, or release it if none waits."""
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._state:
            if self._wanted:
                granted.set()
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                self._granted = None

    def _timed_out(self) -> OperationalError:
        message = f"database is locked (Guard's writer lock not had within {self.timeout:g} s)"
        return OperationalError("acquire writer lock", None, sqlite3.OperationalError(message))

    def release(self) -> None:
        """Let the next writer in; any thread of this process may release it (see `checkpoint_later`)."""
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


# SQLite's WAL write lock: a POSIX lock on this byte of the `-shm` file (https://sqlite.org/walformat.html).
WAL_WRITE_LOCK_OFFSET = 120
_FLOCK = struct.Struct("hhqqi4x")  # Linux's struct flock: type, whence, start, len, pid
# How long a probe watches a held write lock for commits before it calls writes blocked.
BLOCKED_WINDOW = 0.5
# Descriptors of `-shm` files, opened once and never closed: closing any descriptor of a file drops every
# POSIX lock this process holds on it, SQLite's own included.
_SHM: dict[str, int] = {}
_SHM_GUARD = threading.Lock()


def _write_lock_holder(database_path: str) -> int | None:
    """The pid of another process holding the SQLite file's WAL write lock, if any (F_GETLK takes nothing)."""
    shm = database_path + "-shm"
    try:
        with _SHM_GUARD:
            fd = _SHM.get(shm)
            if fd is None or os.fstat(fd).st_ino != os.stat(shm).st_ino:  # first look, or a new -shm file
                fd = _SHM[shm] = os.open(shm, os.O_RDONLY)
        query = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, WAL_WRITE_LOCK_OFFSET, 1, 0)
        kind, _, _, _, pid = _FLOCK.unpack(fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except FileNotFoundError:  # no -shm file: nobody has the database open in WAL mode
        return None
    return None if kind == fcntl.F_UNLCK else int(pid)


def _writer_lock(url: str, timeout: float = DEFAULT_TIMEOUT) -> _WriterLock | None:
    """A writer lock for a SQLite file database (none for PostgreSQL or an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return _WriterLock(os.path.abspath(parsed.database), timeout)


class Database:
    """An engine, its session factories and (on a SQLite file) the writer lock every writing transaction takes."""

    def __init__(self, url: str, engine: Engine | None = None, timeout: float = DEFAULT_TIMEOUT,
                 synchronous: str = DEFAULT_SYNCHRONOUS) -> None:
        self.url = url
        self.engine = engine or make_engine(url, timeout, synchronous=synchronous)
        self._timeout = timeout
        self._postgres = self.engine.dialect.name == "postgresql"
        self._raw: Engine | None = None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)
        self._lock = _writer_lock(url, timeout)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A writing session in one transaction, committed on success and rolled back on any error."""
        if self._lock is None:
            with self._writers() as session, session.begin():
                yield session
            return
        with self._lock.held(), self._writers() as session, session.begin():
            yield session

    def analyze(self, *tables: str) -> None:
        """Refresh PostgreSQL's statistics of `tables` after a bulk load: plans cached while a table was small
        (a sequential scan) are made again from them (bench/RESULTS.md). SQLite: nothing (its planner has
        no statistics until ANALYZE, and giving it some would change plans that were measured without)."""
        if not self._postgres:
            return
        with self.raw_transaction() as sql:
            for table in tables:
                sql.run(f"ANALYZE {table}")

    @contextmanager
    def raw_transaction(self, small: bool = False, checkpoint_later: bool = False) -> Iterator[Sql]:
        """A writing transaction spoken to in the driver's terms: committed on success, rolled back on error.

        `small`: a few statements and rows (no COPY); on PostgreSQL they are pipelined, so statements
        whose results are not read yet travel together with the next one that is read.
        `checkpoint_later` (SQLite; large writes): the WAL checkpoint this COMMIT would run is run by a
        background thread instead, which keeps the writer lock until it is done. The caller goes on at once
        (a stream parses and validates its next chunk meanwhile); the next writer waits for the lock as it
        would have waited for this COMMIT, and so always starts on a fully copied log, which SQLite can
        then restart: the `-wal` file stays as small as before.
        """
        if self._lock is None:
            with self._raw_transaction("BEGIN" if self._postgres else "BEGIN IMMEDIATE", small) as sql:
                yield sql
            return
        self._lock.acquire()
        try:
            with self._raw_transaction("BEGIN IMMEDIATE", small, no_checkpoint=checkpoint_later) as sql:
                yield sql
        except BaseException:
            self._lock.release()
            raise
        if not checkpoint_later:
            self._lock.release()
            return
        try:
            threading.Thread(target=self._checkpoint_then_release, name="guard-checkpoint", daemon=True).start()
        except RuntimeError:  # no thread to be had: checkpoint here, as the COMMIT would have
            self._checkpoint_then_release()

    @contextmanager
    def _raw_transaction(self, begin: str, small: bool, no_checkpoint: bool = False) -> Iterator[Sql]:
        # PostgreSQL, pipelined: BEGIN travels with the transaction's first statements instead of alone.
        deferred = small and self._postgres
        connection, sql = self._checkout(None if deferred else begin)
        try:
            if no_checkpoint:
                sql.run("PRAGMA wal_autocheckpoint=0")  # for this COMMIT only (restored below)
            with sql.pipelined() if small else nullcontext():
                if deferred:
                    sql.run(begin)
                yield sql
                sql.run("COMMIT")
        except OperationalError:
            self._forget_connections(connection)  # it may be gone: never hand it out again
            raise
        except BaseException:
            _quietly_roll_back(sql)
            raise
        finally:
            if no_checkpoint:
                with suppress(Exception):
                    sql.run(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            connection.close()

    def _checkpoint_then_release(self) -> None:
        """Copy the log into the database file (what the COMMIT would have done), then let writers in."""
        assert self._lock is not None
        try:
            with self.raw_reads() as sql:
                sql.first("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # a failed checkpoint only leaves the log longer until the next one
            log.warning("background checkpoint failed", exc_info=True)
        finally:
            self._lock.release()

    def writes_blocked(self, window: float = BLOCKED_WINDOW) -> bool:
        """On a SQLite file: whether another process holds the write lock and commits nothing for `window`
        seconds (every write would wait it out). The lock is only looked at, never taken, so a probe never
        competes with writers; PostgreSQL answering is enough."""
        if self._lock is None or _write_lock_holder(self._lock.database_path) is None:
            return False
        with self.raw_reads() as sql:
            version = sql.first("PRAGMA data_version")
            deadline = time.monotonic() + window
            while time.monotonic() < deadline:
                time.sleep(window / 10)
                # Free again, or commits go on (another worker writing a lot): writers are not stuck.
                if _write_lock_holder(self._lock.database_path) is None or \
                        sql.first("PRAGMA data_version") != version:
                    return False
        return True

    @contextmanager
    def raw_reads(self) -> Iterator[Sql]:
        """Reads outside any transaction (each statement sees the newest committed data)."""
        connection = self._connect()
        try:
            yield Sql(connection.driver_connection, self.engine.dialect.name)
        except OperationalError:
            self._forget_connections(connection)
            raise
        finally:
            connection.close()

    def _checkout(self, begin: str | None) -> tuple[Any, Sql]:
        """A pooled connection, in a transaction unless `begin` is None (the caller sends it then); retried
        once when the server dropped the pool's connections."""
        # A locked SQLite file is not retried: its busy timeout has already been waited out.
        attempts = 2 if self._postgres else 1
        for attempt in range(1, attempts + 1):
            connection = self._connect()
            sql = Sql(connection.driver_connection, self.engine.dialect.name)
            try:
                if begin is not None:
                    sql.run(begin)
                elif _hung_up(connection.driver_connection):
                    raise OperationalError("checkout", None, ConnectionError("the server closed the connection"))
                return connection, sql
            except OperationalError:
                self._forget_connections(connection)
                connection.close()
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        """A pooled DBAPI connection; a server that cannot be reached is SQLAlchemy's OperationalError."""
        error = driver_error(self.engine.dialect.name)
        try:
            return self._raw_engine.raw_connection()
        except error as exc:
            raise wrapped("connect", exc, error) from exc

    def _forget_connections(self, failed: Any) -> None:
        """After a connection failed, drop it and every idle pooled one: they likely died together (restart)."""
        failed.invalidate()
        if self._postgres:
            self._raw_engine.dispose(close=False)

    @property
    def _raw_engine(self) -> Engine:
        if self._raw is None:
            self._raw = make_engine(self.url, self._timeout, raw=True) if self._postgres else self.engine
        return self._raw

    def dispose(self) -> None:
        """Close pooled connections (after a fork, or at shutdown)."""
        self.engine.dispose()
        if self._raw is not None and self._raw is not self.engine:
            self._raw.dispose()


def _hung_up(connection: Any) -> bool:
    """Whether an idle PostgreSQL connection has something to read: between transactions the server says
    nothing unless it is closing the connection (a restart, a terminated backend), so this tells a dead
    pooled connection without a round trip. A live one with a stray notice is merely replaced."""
    if connection.closed or connection.broken:
        return True
    poller = select.poll()  # not select(): no limit on the descriptor's number
    try:
        poller.register(connection.pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _quietly_roll_back(sql: Sql) -> None:
    """Roll back after a failure; a connection that is already gone has nothing left to roll back."""
    with suppress(Exception):  # the original error is the one worth raising
        sql.run("ROLLBACK")
