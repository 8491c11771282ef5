"""Shared fixtures: a real database (SQLite by default, PostgreSQL with GUARD_TEST_DATABASE_URL) whose
transactions commit as in production, emptied after each test; the starter rules compiled once; factories for
keys, events and decisions."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, request
from sqlalchemy import Engine, create_engine, make_url

from guard.app import Guard, RulesHolder
from guard.core.config import Settings
from guard.decisions.projector import catch_up
from guard.lifecycle.active import ActiveRules
from guard.policy.evaluate import Evaluator
from guard.policy.ruleset import load_directory
from guard.situation.history import LOCK_TABLE
from guard.storage.database import Database, make_engine
from guard.storage.migrations import upgrade
from guard.storage.tables import Base

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "rules"


def database_url(tmp_dir: Path) -> str:
    """The database the suite runs on: GUARD_TEST_DATABASE_URL, else a SQLite file."""
    return os.environ.get("GUARD_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'guard-test.db'}"


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this run's own: on PostgreSQL a fresh database, so parallel runs never collide."""
    url = database_url(tmp_path_factory.mktemp("db"))
    if not url.startswith("postgresql"):
        yield url
        return
    with fresh_postgres_database(url) as fresh:
        yield fresh


@contextmanager
def fresh_postgres_database(url: str) -> Iterator[str]:
    """Create an empty database next to `url` and drop it afterwards."""
    name = f"guard_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """The schema, built once per run on a clean database by the migrations, as production builds it."""
    engine = make_engine(db_url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine, db_url: str) -> Iterator[Database]:
    """The run's database, committing for real as production does (raw paths included); emptied afterwards."""
    database = Database(db_url, engine=engine)
    try:
        yield database
    finally:
        database.dispose()
        empty_every_table(engine)


def empty_every_table(engine: Engine) -> None:
    """Delete every row (the schema and its migrations stay), so the next test starts on an empty database; the
    customers' lock buckets, filled by their migration, stay filled."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != LOCK_TABLE]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            return
        for table in tables:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first():
            conn.exec_driver_sql("DELETE FROM sqlite_sequence")


@pytest.fixture(params=["sqlite", "postgresql"])
def server_db_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database for a real server: a SQLite file always, PostgreSQL too when the suite runs on it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'served.db'}"
    elif not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL: set GUARD_TEST_DATABASE_URL")
    else:
        with fresh_postgres_database(db_url) as url:
            yield url


@pytest.fixture
def served_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the kind the suite runs on, for a real server or CLI to migrate (a SQLite file, or
    a fresh PostgreSQL database)."""
    if db_url.startswith("postgresql"):
        with fresh_postgres_database(db_url) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'served.db'}"


@pytest.fixture
def committed_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated database of the test's own whose transactions really commit (for threads and processes)."""
    url = database_url(tmp_path)
    if url.startswith("postgresql"):
        with fresh_postgres_database(url) as fresh:
            upgrade(fresh)
            database = Database(fresh)
            yield database
            database.dispose()
        return
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def reads_caught_up(app: Flask, db: Database) -> Flask:
    """Before each GET, run the projector (the real one, synchronously) until it has caught up: tests of what
    reviewers read then need not wait for it. tests/decisions/test_projector.py tests the lag itself."""

    def project() -> None:
        if request.method == "GET":
            catch_up(db)

    app.before_request(project)
    return app


@pytest.fixture(scope="session")
def starter_evaluator() -> Iterator[Evaluator]:
    """The shipped rules, compiled once."""
    evaluator = load_directory(RULES_DIR)
    yield evaluator
    evaluator.close()


@pytest.fixture
def guard(db: Database, starter_evaluator: Evaluator, db_url: str) -> Guard:
    """The application service on the test database with the starter rules."""
    return Guard(Settings(database_url=db_url), db=db, rules=RulesHolder(starter_evaluator, RULES_DIR))


def event(customer_id: str, type_: str, occurred_at: str, event_id: str | None = None, **data: Any) -> dict[str, Any]:
    """An event payload as systems post it."""
    return {
        "event_id": event_id or f"{customer_id}-{type_}-{occurred_at}",
        "customer_id": customer_id,
        "type": type_,
        "occurred_at": occurred_at,
        "data": data,
    }


@pytest.fixture
def live_guard(db: Database, db_url: str) -> Guard:
    """A Guard like production: rules seeded into the version log and served from it."""
    guard = Guard(Settings(database_url=db_url, rules_dir=str(RULES_DIR)), db=db,
                  rules=ActiveRules(db, check_interval=0))
    guard.seed_rules()
    return guard


@pytest.fixture
def committed_guard(committed_db: Database) -> Guard:
    """A production-like Guard on a database of its own that really commits."""
    guard = Guard(Settings(database_url=committed_db.url, rules_dir=str(RULES_DIR)), db=committed_db,
                  rules=ActiveRules(committed_db, check_interval=0))
    guard.seed_rules()
    return guard


def wait_until_up(base: str, proc: subprocess.Popen[Any], log: Path) -> None:
    """Wait for a started `guard serve` to answer /healthz; fail with its log if it exits or stays silent."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"guard serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still booting on a busy machine
            pass
        time.sleep(0.2)
    pytest.fail(f"guard serve did not answer within 60 s:\n{log.read_text()}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say loudly when the browser tests did not run: a console change would otherwise pass unseen."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "tests/web/console/test_browser.py" in str(getattr(r, "nodeid", ""))]
    if not skipped:
        return
    reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else str(skipped[0].longrepr)
    terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
    terminalreporter.write_line(f"{len(skipped)} console browser test(s) did not run: {reason}", red=True, bold=True)
    terminalreporter.write_line("The console is untested in a real browser. Install Chromium: "
                                "apt-get install chromium (see README, Requirements).", red=True, bold=True)
