"""What every `guard` command shares: settings, the migrated database, error text, tables."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from guard.core.config import Settings
from guard.core.errors import GuardError
from guard.ledger.digests import use_key
from guard.policy.ast import RuleError
from guard.policy.engine import EngineError
from guard.storage.database import Database
from guard.storage.migrations import upgrade

BATCH_SIZE = 1000
# Past this many, bad lines are counted but not each described: the summary must stay readable.
MAX_LISTED_ERRORS = 1000


class GuardGroup(click.Group):
    """Turns Guard's and the database's errors into a message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GuardError as exc:
            raise click.ClickException(describe_error(exc)) from exc
        except EngineError as exc:
            raise click.ClickException(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise click.ClickException(f"database error: {first_line(exc)}") from exc


def first_line(exc: SQLAlchemyError) -> str:
    origin = getattr(exc, "orig", None) or exc
    return str(origin).strip().splitlines()[0] if str(origin).strip() else type(exc).__name__


def describe_error(exc: GuardError) -> str:
    """A GuardError as text, with located rule errors and failed rule tests one per line."""
    lines = [exc.message]
    details = exc.details if isinstance(exc.details, dict) else {}
    lines += [located(RuleError(**rule_error_fields(e))) for e in details.get("errors", []) if isinstance(e, dict)]
    lines += [f"FAIL {t['file']}:{t['line']} {t['name']}: {t['message']}" for t in details.get("failed", [])]
    if len(lines) == 1 and details:
        lines.append(json.dumps(details, ensure_ascii=False))
    return "\n".join(lines)


def rule_error_fields(error: dict[str, Any]) -> dict[str, Any]:
    names = ("file", "line", "column", "rule_id", "message", "severity")
    return {k: error[k] for k in names if k in error}


def located(error: RuleError) -> str:
    """file:line:column: [rule] message (warnings say so)."""
    rule = f" [{error.rule_id}]" if error.rule_id else ""
    severity = " warning:" if error.severity == "warning" else ""
    return f"{error.file}:{error.line}:{error.column}:{rule}{severity} {error.message}"


def settings_from_env() -> Settings:
    return Settings.from_env()


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an invalid GUARD_DATABASE_URL)"


@contextmanager
def database(settings: Settings) -> Iterator[Database]:
    """The configured database, brought up to date first: every command works on a fresh machine."""
    use_key(settings.audit_key)  # before migrating: a migration may chain a record
    try:
        upgrade(settings.database_url)
    except ArgumentError as exc:
        raise click.ClickException(f"GUARD_DATABASE_URL is not a database URL: {exc}") from exc
    db = Database(settings.database_url, timeout=settings.db_timeout, synchronous=settings.sqlite_synchronous)
    try:
        yield db
    finally:
        db.dispose()


def minute(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "-"


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> Iterator[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

