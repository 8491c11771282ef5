"""The `guard` command: serve, keys, rules, db and events (settings from GUARD_* variables)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from guard import __version__
from guard.audit.digests import use_key
from guard.auth.keys import SCOPES, create_key, list_keys, revoke_key
from guard.config import Settings
from guard.db import Database
from guard.engine import EngineError
from guard.errors import GuardError
from guard.migrations import head_revision, upgrade
from guard.progress import progress_bar
from guard.rules.loader import read_directory
from guard.rules.model import RuleError
from guard.rules.ruleset import build_evaluator, check_sources, load_directory, rules_directory
from guard.rules.testing import run_tests
from guard.situation.events import EventResult, ingest_batch
from guard.strictjson import ndjson
from guard.timeutil import iso

BATCH_SIZE = 1000
# Past this many, bad lines are counted but not each described: the summary must stay readable.
MAX_LISTED_ERRORS = 1000


class _Group(click.Group):
    """Turns Guard's and the database's errors into a message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GuardError as exc:
            raise click.ClickException(describe_error(exc)) from exc
        except EngineError as exc:
            raise click.ClickException(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise click.ClickException(f"database error: {_first_line(exc)}") from exc


def _first_line(exc: SQLAlchemyError) -> str:
    origin = getattr(exc, "orig", None) or exc
    return str(origin).strip().splitlines()[0] if str(origin).strip() else type(exc).__name__


def describe_error(exc: GuardError) -> str:
    """A GuardError as text, with located rule errors and failed rule tests one per line."""
    lines = [exc.message]
    details = exc.details if isinstance(exc.details, dict) else {}
    lines += [located(RuleError(**_fields(e))) for e in details.get("errors", []) if isinstance(e, dict)]
    lines += [f"FAIL {t['file']}:{t['line']} {t['name']}: {t['message']}" for t in details.get("failed", [])]
    if len(lines) == 1 and details:
        lines.append(json.dumps(details, ensure_ascii=False))
    return "\n".join(lines)


def _fields(error: dict[str, Any]) -> dict[str, Any]:
    names = ("file", "line", "column", "rule_id", "message", "severity")
    return {k: error[k] for k in names if k in error}


def located(error: RuleError) -> str:
    """file:line:column: [rule] message (warnings say so)."""
    rule = f" [{error.rule_id}]" if error.rule_id else ""
    severity = " warning:" if error.severity == "warning" else ""
    return f"{error.file}:{error.line}:{error.column}:{rule}{severity} {error.message}"


def _settings() -> Settings:
    return Settings.from_env()


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an invalid GUARD_DATABASE_URL)"


@contextmanager
def _database(settings: Settings) -> Iterator[Database]:
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


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="guard")
def main() -> None:
    """Guard: a policy guard for outbound customer communications.

    Settings come from GUARD_* environment variables: GUARD_DATABASE_URL (default sqlite:///guard.db),
    GUARD_RULES_DIR (default ./rules if it has rule files, else the starter pack), GUARD_MAX_BODY_BYTES,
    GUARD_LOG_LEVEL.
    """


# --- serve -------------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: one per core, at least 2; the rule engine uses one core each).")
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the HTTP API with gunicorn until stopped (Ctrl-C or SIGTERM; SIGHUP reloads the workers gracefully)."""
    from guard import serve as serving  # gunicorn is only imported by the command that needs it

    workers = workers or serving.default_workers()

    settings = serving.resolved(_settings())
    directory = Path(str(settings.rules_dir))
    _require_valid(directory)
    click.echo(f"Database {_safe_url(settings.database_url)}; rules from {directory}", err=True)
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
    problems = _problems(directory)
    for problem in problems:
        click.echo(located(problem), err=True)
    if any(p.severity == "error" for p in problems):
        raise click.ClickException(f"the rule files in {directory} have errors; nothing was started")


# --- keys --------------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Create, list and revoke API keys (stored hashed)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key, e.g. crm-prod.")
@click.option("--scope", "scopes", required=True, multiple=True, type=click.Choice(SCOPES),
              help="Repeat for several: decide, events, read, admin (admin implies all).")
def keys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key; the key itself is the last line printed, and is shown only this once."""
    with _database(_settings()) as db, db.transaction() as session:
        key, token = create_key(session, name, scopes)
        summary = f"Created API key {key.id} ({key.name}) with scopes {key.scopes.replace(',', ', ')}."
    click.echo(summary + " Store it now; it is not shown again:", err=True)
    click.echo(token)


@keys.command("list")
def keys_list() -> None:
    """Every key: id, name, prefix, scopes, created, revoked (never the key itself)."""
    with _database(_settings()) as db, db.sessions() as session:
        rows = [(str(k.id), k.name, k.prefix, k.scopes, _minute(k.created_at), _minute(k.revoked_at))
                for k in list_keys(session)]
    if not rows:
        click.echo("No API keys yet: guard keys create --name NAME --scope decide", err=True)
        return
    for line in _table(("ID", "NAME", "PREFIX", "SCOPES", "CREATED", "REVOKED"), rows):
        click.echo(line)


def _minute(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "-"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> Iterator[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


@keys.command("revoke")
@click.argument("key_id", metavar="ID", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke a key by id (see `guard keys list`); it stops working at once."""
    with _database(_settings()) as db, db.transaction() as session:
        key = revoke_key(session, key_id)
        message = f"Revoked API key {key.id} ({key.name}) at {iso(key.revoked_at)}."
    click.echo(message)


# --- rules -------------------------------------------------------------------------------------------


@main.group()
def rules() -> None:
    """Check rule files and run the tests written inside them."""


def _directory(given: str | None) -> Path:
    directory = Path(given) if given else rules_directory(_settings().rules_dir)
    if not directory.is_dir():
        raise click.ClickException(f"{directory} is not a directory")
    return directory


def _problems(directory: Path) -> list[RuleError]:
    """Every error and warning of the directory's rule files; an empty directory is an error too."""
    sources = read_directory(directory)
    if not sources:
        return [RuleError(str(directory), 1, 1, None, "no rule files (*.yaml, *.yml) here")]
    problems = check_sources(sources)
    if any(p.severity == "error" for p in problems):
        return problems
    try:
        # The files parse: make sure they also compile and the engine accepts them.
        build_evaluator(sources).close()
    except GuardError as exc:
        return problems + [RuleError(**_fields(e)) for e in exc.details.get("errors", [])]
    except EngineError as exc:
        return [*problems, RuleError(str(directory), 1, 1, None, str(exc))]
    return problems


@rules.command("validate")
@click.argument("directory", metavar="[DIR]", required=False)
def rules_validate(directory: str | None) -> None:
    """Check every rule file of DIR (default: the configured rules); exit 1 on any error."""
    path = _directory(directory)
    problems = _problems(path)
    for problem in problems:
        click.echo(located(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        raise click.ClickException(f"{path}: {errors} error(s), {warnings} warning(s)")
    click.echo(f"{path}: valid, {len(read_directory(path))} file(s), {warnings} warning(s)")


@rules.command("test")
@click.argument("directory", metavar="[DIR]", required=False)
def rules_test(directory: str | None) -> None:
    """Run the test cases written in DIR's rule files; exit 1 on any failure or compile error."""
    path = _directory(directory)
    if not read_directory(path):
        raise click.ClickException(f"{path}: no rule files (*.yaml, *.yml) here")
    evaluator = load_directory(path)
    try:
        results = run_tests(evaluator)
    finally:
        evaluator.close()
    for result in results:
        click.echo(f"{'PASS' if result.passed else 'FAIL'} {result.file}:{result.line} {result.name}: {result.message}")
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)


# --- db ----------------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The database schema (Alembic migrations shipped with Guard)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the GUARD_DATABASE_URL database up to the newest schema (safe to repeat)."""
    settings = _settings()
    with _database(settings):
        pass
    click.echo(f"{_safe_url(settings.database_url)} is at schema revision {head_revision()} (newest).")


# --- events ------------------------------------------------------------------------------------------


@main.group()
def events() -> None:
    """Load events in bulk."""


@dataclass
class _Tally:
    """What an import did, with the line number of every bad line."""

    created: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def add(self, results: list[EventResult], lines: list[int]) -> None:
        """Count one stored batch; `lines` gives the file line of each batch item."""
        for result in results:
            if result.status == "created":
                self.created += 1
            elif result.status == "duplicate":
                self.duplicates += 1
            else:
                self.errors.append((lines[result.index], _event_error(result.error or {})))

    def summary(self) -> str:
        """The closing line."""
        text = f"{self.created} created, {self.duplicates} duplicates, {len(self.errors)} errors"
        if self.errors:
            numbers = sorted(n for n, _ in self.errors)
            shown = ", ".join(str(n) for n in numbers[:50])
            text += f" (bad lines: {shown}{', ...' if len(numbers) > 50 else ''})"
        return text


def _event_error(error: dict[str, Any]) -> str:
    details = error.get("details")
    suffix = f" {json.dumps(details, ensure_ascii=False, sort_keys=True)}" if details else ""
    return f"{error.get('code', 'error')}: {error.get('message', '')}{suffix}"


def _records(stream: IO[bytes], tally: _Tally, advance: Callable[[int], object]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line, read as the API reads a stream; bad lines are
    tallied, not raised."""
    for line in ndjson(stream):
        advance(line.size)
        if line.error is None:
            yield line.number, line.value
        else:
            reason = line.error.details.get("reason") if isinstance(line.error.details, dict) else None
            tally.errors.append((line.number, f"{line.error.code}: {reason or line.error.message}"))


def _batches(records: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    while batch := list(islice(records, size)):
        yield batch


def _size(stream: IO[bytes]) -> int | None:
    """The byte size of a regular file; None for a pipe or stdin."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


@contextmanager
def _progress(stream: IO[bytes]) -> Iterator[Callable[[int], object]]:
    """A progress bar over the bytes read (over lines when the size is unknown), on a terminal only."""
    size = _size(stream)
    if size is not None:
        with progress_bar("Importing events", size, in_bytes=True) as bar:
            yield bar.update
        return
    with progress_bar("Importing events", unit="lines") as lines:
        yield lambda _bytes: lines.update(1)


@events.command("import")
@click.argument("file", type=click.File("rb"))
def events_import(file: IO[bytes]) -> None:
    """Import FILE, NDJSON with one event per line ('-' reads stdin), in batches of 1000.

    Repeated events are counted as duplicates; bad lines are reported with their line numbers and the
    rest is still imported. Exit status 1 when any line was bad.
    """
    tally = _Tally()
    with _database(_settings()) as db, _progress(file) as advance:
        for batch in _batches(_records(file, tally, advance), BATCH_SIZE):
            _store(db, batch, tally)
    _report(tally)


def _store(db: Database, batch: list[tuple[int, Any]], tally: _Tally) -> None:
    try:
        results = ingest_batch(db, [value for _, value in batch])
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"database error in the batch of lines {batch[0][0]}-{batch[-1][0]}: {_first_line(exc)}; "
            f"{tally.created} events of earlier lines were stored (importing again skips them as duplicates)"
        ) from exc
    tally.add(results, [number for number, _ in batch])


def _report(tally: _Tally) -> None:
    for number, message in sorted(tally.errors)[:MAX_LISTED_ERRORS]:
        click.echo(f"line {number}: {message}")
    if len(tally.errors) > MAX_LISTED_ERRORS:
        click.echo(f"... and {len(tally.errors) - MAX_LISTED_ERRORS} more bad lines")
    click.echo(tally.summary())
    if tally.errors:
        raise click.exceptions.Exit(1)


def _register_command_groups() -> None:
    """Groups that live in guard.commands (imported here, after the plumbing they use is defined)."""
    from guard.commands import lifecycle
    from guard.commands.audit import audit, customers
    from guard.commands.campaign import campaign
    from guard.commands.sources import sources

    main.add_command(campaign)
    main.add_command(sources)
    main.add_command(audit)
    main.add_command(customers)
    for command in lifecycle.COMMANDS:
        rules.add_command(command)


_register_command_groups()


if __name__ == "__main__":
    main()
