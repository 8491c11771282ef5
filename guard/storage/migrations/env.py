"""Alembic environment, configured from Python (see guard.storage.migrations.alembic_config)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

import guard.storage.tables  # noqa: F401 - registers every table on the metadata
from guard.storage.database import Base, UTCDateTime, make_engine

# Any constant will do: it only has to be the same in every process that migrates this database.
_PG_LOCK_KEY = 0x6775617264  # "guard"


def _url() -> str:
    config = context.config
    return str(config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url"))


def _render_item(kind: str, item: Any, _autogen: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes UTCDateTime as the plain type it stores into: migrations never import models."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        **kwargs,
    )


def run_offline() -> None:
    """Emit the SQL instead of running it (`alembic upgrade --sql`)."""
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _migrate(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes upgrading at once (several `guard` commands starting together) wait for each
        # other; the second then finds the schema at head. SQLite's BEGIN IMMEDIATE does the same.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    _configure(connection=connection)
    context.run_migrations()


def run_online() -> None:
    """Run every pending migration in one transaction: a failed upgrade leaves nothing half done."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
