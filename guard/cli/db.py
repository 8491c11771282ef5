"""`guard db upgrade`: the schema, by the migrations shipped with Guard."""

from __future__ import annotations

import click

from guard.cli.common import (
    database,
    safe_url,
    settings_from_env,
)
from guard.storage.migrations import head_revision


@click.group()
def db() -> None:
    """The database schema (Alembic migrations shipped with Guard)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the GUARD_DATABASE_URL database up to the newest schema (safe to repeat)."""
    settings = settings_from_env()
    with database(settings):
        pass
    click.echo(f"{safe_url(settings.database_url)} is at schema revision {head_revision()} (newest).")


