"""`guard events import FILE`: events in bulk from NDJSON, every bad line reported."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

import click
from sqlalchemy.exc import SQLAlchemyError

from guard.cli.common import (
    BATCH_SIZE,
    MAX_LISTED_ERRORS,
    database,
    first_line,
    settings_from_env,
)
from guard.cli.progress import file_size, progress_bar
from guard.core.strictjson import ndjson
from guard.situation.events import EventResult, ingest_batch
from guard.storage.database import Database


@click.group()
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



@contextmanager
def _progress(stream: IO[bytes]) -> Iterator[Callable[[int], object]]:
    """A progress bar over the bytes read (over lines when the size is unknown), on a terminal only."""
    size = file_size(stream)
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
    with database(settings_from_env()) as db:
        with _progress(file) as advance:
            for batch in _batches(_records(file, tally, advance), BATCH_SIZE):
                _store(db, batch, tally)
        if tally.created:
            db.analyze("events")
    _report(tally)


def _store(db: Database, batch: list[tuple[int, Any]], tally: _Tally) -> None:
    try:
        results = ingest_batch(db, [value for _, value in batch])
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"database error in the batch of lines {batch[0][0]}-{batch[-1][0]}: {first_line(exc)}; "
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

