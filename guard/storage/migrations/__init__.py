"""Alembic migrations of Guard's schema, run from Python: no alembic.ini is needed at run time."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from guard.storage.database import make_engine

HERE = Path(__file__).resolve().parent
# Alembic keeps its running context in module globals: one migration at a time per process.
_lock = threading.Lock()


def alembic_config(database_url: str) -> Config:
    """An Alembic Config for `database_url`, with the scripts of this package."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Passed as an attribute, not a main option: ConfigParser would treat a '%' in a password as syntax.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` up to `revision` (safe to run concurrently and repeatedly)."""
    with _lock:
        command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest revision this package knows."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None when it has no Guard schema yet."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return _current(connection)
    finally:
        engine.dispose()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def schema_differences(connection: Connection) -> list[object]:
    """What autogenerate would change to make the database match the models (empty when in step)."""
    from alembic.autogenerate import compare_metadata

    import guard.storage.tables  # registers every table on the metadata

    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, guard.storage.tables.Base.metadata))
