"""`guard serve`: check the rules, migrate, then run gunicorn until stopped."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.exc import ArgumentError

from guard.cli.common import (
    located,
    safe_url,
    settings_from_env,
)
from guard.cli.rules import rule_problems


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: one per core, at least 2; the rule engine uses one core each).")
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the HTTP API with gunicorn until stopped (Ctrl-C or SIGTERM; SIGHUP reloads the workers gracefully)."""
    from guard.server import serve as serving

    workers = workers or serving.default_workers()

    settings = serving.resolved(settings_from_env())
    directory = Path(str(settings.rules_dir))
    _require_valid(directory)
    click.echo(f"Database {safe_url(settings.database_url)}; rules from {directory}", err=True)
    click.echo(f"Audit key {_audit_key_source()}", err=True)
    try:
        version = serving.prepare(settings)
    except ArgumentError as exc:
        raise click.ClickException(f"GUARD_DATABASE_URL is not a database URL: {exc}") from exc
    click.echo(f"Active rules version {version}; starting {workers} worker(s)", err=True)
    serving.run(settings, host, port, workers)


def _audit_key_source() -> str:
    """Where the audit key came from, for the operator (never the key)."""
    if os.environ.get("GUARD_AUDIT_KEY"):
        return "from GUARD_AUDIT_KEY"
    if os.environ.get("GUARD_AUDIT_KEY_FILE"):
        return f"from {os.path.abspath(os.environ['GUARD_AUDIT_KEY_FILE'])} (GUARD_AUDIT_KEY_FILE)"
    return ("NOT SET: the public development key signs the audit log, which then proves nothing "
            "(set GUARD_AUDIT_KEY or GUARD_AUDIT_KEY_FILE; GUARD_ENV=production requires one)")


def _require_valid(directory: Path) -> None:
    """Fail fast, before any worker starts, with every located error of the rule files."""
    problems = rule_problems(directory)
    for problem in problems:
        click.echo(located(problem), err=True)
    if any(p.severity == "error" for p in problems):
        raise click.ClickException(f"the rule files in {directory} have errors; nothing was started")


