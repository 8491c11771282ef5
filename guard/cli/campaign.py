"""`guard campaign screen FILE`: decide a whole campaign from CSV or NDJSON, with a progress bar and a summary."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any

import click

from guard.app import Guard
from guard.cli.common import database, settings_from_env
from guard.cli.progress import file_size, progress_bar
from guard.core.errors import ServiceUnavailable
from guard.core.strictjson import Line, ndjson
from guard.decisions.campaign import Tally, answer_of, screen_stream
from guard.decisions.projector import catch_up
from guard.storage.database import Database

LIST_SEPARATOR = ";"


def _guard() -> AbstractContextManager[Database]:
    """The configured, migrated database."""
    return database(settings_from_env())


@click.group()
def campaign() -> None:
    """Screen whole campaigns before they are sent."""


@campaign.command("screen")
@click.argument("source", metavar="FILE", type=click.File("rb"))
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "ndjson"]), default="auto", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where decisions go (NDJSON; .csv writes CSV). Default: standard output.")
@click.option("--channel", default=None, help="Channel for rows that have none.")
@click.option("--purpose", default=None, help="Purpose for rows that have none.")
@click.option("--campaign-id", default=None, help="Campaign id for rows that have none.")
@click.option("--send-at", default=None, help="send_at (ISO-8601) for rows that have none.")
def screen(source: IO[bytes], fmt: str, output: Path | None, **defaults: str | None) -> None:
    """Decide every recipient of FILE (CSV with a customer_id column, or NDJSON requests); each is audited."""
    fmt = _format(fmt, source.name)
    lines = _requests(source, fmt, {k: v for k, v in defaults.items() if v is not None})
    tally = Tally()
    with _guard() as db, _sink(output) as sink, progress_bar("Screening", file_size(source), in_bytes=True) as bar:
        guard = _ready(Guard(settings_from_env(), db=db))
        for result in screen_stream(db, lambda: guard.evaluator, _counting(lines, bar), None):
            tally.add(result)
            sink.write(answer_of(result))
        if bar.total:
            bar.update(bar.total - bar.n)  # CSV rows are counted approximately (the header not at all)
        # Reviewers see the campaign at once even when no server runs a projector (a server would do it too).
        catch_up(db)
    click.echo(_summary(tally.to_dict()), err=True)


def _ready(guard: Guard) -> Guard:
    """A Guard with active rules: the configured rule files are activated when none are yet, as serve does."""
    try:
        guard.evaluator  # noqa: B018
    except ServiceUnavailable:
        guard.seed_rules()
    return guard



def _format(fmt: str, name: str) -> str:
    if fmt != "auto":
        return fmt
    return "csv" if name.lower().endswith(".csv") else "ndjson"



def _counting(lines: Iterator[Line], bar: Any) -> Iterator[Line]:
    """Advance the progress bar by the bytes each request took in the file."""
    for line in lines:
        bar.update(line.size)
        yield line


def _requests(source: IO[bytes], fmt: str, defaults: dict[str, str]) -> Iterator[Line]:
    """One request per recipient; NDJSON lines are read as the API reads a stream's."""
    if fmt == "ndjson":
        for line in ndjson(source):
            yield line._replace(value={**defaults, **line.value}) if isinstance(line.value, dict) else line
        return
    reader = csv.DictReader(io.TextIOWrapper(source, encoding="utf-8-sig", newline=""))
    for number, row in enumerate(reader, start=2):
        yield Line(number, sum(len(v or "") + 1 for v in row.values()), {**defaults, **_from_csv(row)})


def _from_csv(row: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row as a request: empty cells are absent, product_ids split on ';', attributes.X columns nested."""
    request: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for column, value in row.items():
        if column is None or value is None or value == "":
            continue
        if column.startswith("attributes."):
            attributes[column.removeprefix("attributes.")] = value
        elif column == "product_ids":
            request[column] = [p.strip() for p in value.split(LIST_SEPARATOR) if p.strip()]
        else:
            request[column] = value
    if attributes:
        request["attributes"] = attributes
    return request


class _Sink:
    """Decisions out: NDJSON, or CSV when the output file ends in .csv."""

    COLUMNS = ("index", "customer_id", "decision_id", "outcome", "route", "defer_until", "rule_id", "explanation",
               "error")

    def __init__(self, stream: IO[str], as_csv: bool) -> None:
        self.stream = stream
        self.writer = csv.DictWriter(stream, self.COLUMNS) if as_csv else None
        if self.writer:
            self.writer.writeheader()

    def write(self, result: dict[str, Any]) -> None:
        if self.writer is None:
            self.stream.write(json.dumps(result) + "\n")
            return
        reason = result.get("reasons", [{}])[0] if result.get("reasons") else {}
        self.writer.writerow({
            "index": result["index"], "customer_id": result.get("customer_id", ""),
            "decision_id": result.get("decision_id", ""), "outcome": result.get("outcome", ""),
            "route": result.get("route") or "", "defer_until": result.get("defer_until") or "",
            "rule_id": reason.get("rule_id", ""), "explanation": reason.get("explanation", ""),
            "error": (result.get("error") or {}).get("code", ""),
        })


@contextmanager
def _sink(path: Path | None) -> Iterator[_Sink]:
    """The output file (or stdout) as a _Sink."""
    if path is None:
        yield _Sink(sys.stdout, False)
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield _Sink(handle, path.suffix.lower() == ".csv")


def _summary(summary: dict[str, Any]) -> str:
    """The end-of-run table: outcomes, errors, and the rules that decided most."""
    total = summary["total"] or 1
    lines = ["", f"{'outcome':<10}{'count':>10}{'share':>8}"]
    for outcome in ("allow", "block", "hold", "defer", "reroute"):
        count = summary["outcomes"].get(outcome, 0)
        lines.append(f"{outcome:<10}{count:>10}{count / total:>8.1%}")
    lines.append(f"{'error':<10}{summary['errors']:>10}{summary['errors'] / total:>8.1%}")
    lines.append(f"{'total':<10}{summary['total']:>10}")
    if summary["top_rules"]:
        lines += ["", "top reasons:"]
        lines += [f"  {rule:<32}{count:>10}" for rule, count in summary["top_rules"].items()]
    return "\n".join(lines)
