"""`guard rules push|pull|versions|diff|activate|rollback|backtest`: the admin workflow from a terminal."""

from __future__ import annotations

import getpass
import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from guard.cli.common import database, settings_from_env
from guard.cli.progress import progress_bar
from guard.lifecycle.backtest import run_backtest
from guard.lifecycle.versions import (
    activate,
    create_version,
    diff_versions,
    get_version,
    list_versions,
    pull_version,
    rollback,
    sources_of,
)
from guard.policy.parser import read_directory
from guard.policy.ruleset import build_evaluator
from guard.storage.database import Database


def _db() -> AbstractContextManager[Database]:
    """The configured, migrated database."""
    return database(settings_from_env())


def _author() -> str:
    return f"cli:{getpass.getuser()}"


@click.command("push")
@click.argument("directory", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-m", "--message", required=True, help="Why this change (kept in the rule change audit).")
@click.option("--activate", "and_activate", is_flag=True, help="Activate the new version at once.")
def rules_push(directory: Path, message: str, and_activate: bool) -> None:
    """Store DIR's rule files as a new version (validated and tested first)."""
    with _db() as db:
        created = create_version(db, read_directory(directory), _author(), message)
        click.echo(f"Created version {created['number']} (parent {created['parent']}, "
                   f"{created['tests']['passed']} rule tests passed).")
        if and_activate:
            activate(db, created["number"], _author(), message)
            click.echo(f"Version {created['number']} is active.")


@click.command("pull")
@click.argument("version", type=int)
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
def rules_pull(version: int, directory: Path) -> None:
    """Write a stored version's rule files into DIR."""
    with _db() as db, db.sessions() as session:
        written = pull_version(session, version, directory)
    for path in written:
        click.echo(str(path))


@click.command("versions")
def rules_versions() -> None:
    """Every stored version and who activated what, when and why."""
    with _db() as db, db.sessions() as session:
        listing = list_versions(session)
    for v in listing["versions"]:
        mark = "*" if v["active"] else " "
        click.echo(f"{mark} v{v['number']}  {v['created_at']}  {v['author']}: {v['message']}")
    for a in listing["activations"][:20]:
        origin = f" (from v{a['previous']})" if a["previous"] is not None else ""
        click.echo(f"  {a['activated_at']}  {a['kind']} v{a['version']}{origin} by {a['actor']}: {a['message']}")


@click.command("diff")
@click.argument("old", type=int)
@click.argument("new", type=int)
def rules_diff(old: int, new: int) -> None:
    """A unified diff of the rule files between two versions."""
    with _db() as db, db.sessions() as session:
        click.echo(diff_versions(session, old, new)["diff"] or "(no difference)", nl=False)


@click.command("activate")
@click.argument("version", type=int)
@click.option("-m", "--message", default="activated from the CLI", show_default=True)
def rules_activate(version: int, message: str) -> None:
    """Activate a stored version for every Guard process (within about a second)."""
    with _db() as db:
        result = activate(db, version, _author(), message)
    click.echo(f"Version {result['version']} is active (was {result['previous']}).")


@click.command("rollback")
@click.option("--to", "to", type=int, default=None, help="A version number (default: the previous one).")
@click.option("-m", "--message", default="rolled back from the CLI", show_default=True)
def rules_rollback(to: int | None, message: str) -> None:
    """Return to the previously active version."""
    with _db() as db:
        result = rollback(db, _author(), message, to)
    click.echo(f"Rolled back: version {result['version']} is active (was {result['previous']}).")


@click.command("backtest")
@click.argument("directory", metavar="[DIR]", required=False,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--version", "version", type=int, default=None, help="A stored version instead of DIR.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"]), default=None)
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Replay in this many processes (e.g. one per core); the report is the same.")
def rules_backtest(directory: Path | None, version: int | None, since: datetime | None, until: datetime | None,
                   as_json: bool, processes: int) -> None:
    """Replay recorded decisions (send_at in [since, until)) against candidate rules; nothing is written."""
    if (directory is None) == (version is None):
        raise click.UsageError("Give a rules DIR or --version N.")
    with _db() as db:
        if version is not None:
            with db.sessions() as session:
                sources = sources_of(get_version(session, version))
        else:
            assert directory is not None
            sources = read_directory(directory)
        candidate = build_evaluator(sources)
        try:
            report = _replay(db, candidate, _aware(since), _aware(until), processes)
        finally:
            candidate.close()
    click.echo(json.dumps(report, indent=2) if as_json else _summary(report))


def _replay(db: Database, candidate: Any, since: datetime | None, until: datetime | None, processes: int
            ) -> dict[str, Any]:
    with progress_bar("Replaying decisions", unit="decisions") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return run_backtest(db, candidate, since, until, progress=progress, processes=processes)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _summary(report: dict[str, Any]) -> str:
    lines = [f"{report['total']} decisions replayed in {report['seconds']}s: {report['changed']} would change "
             f"({report['defer_changed']} more only in their defer time)."]
    lines += [f"  {m['from']:>8} -> {m['to']:<8} {m['count']}" for m in report["matrix"]]
    lines += ["By rule (matched before / would match / changed decisions it now wins):"]
    lines += [f"  {r['rule_id']}: {r['matched_before']} / {r['matched_after']} / {r['changed_decisions']}"
              for r in report["by_rule"]]
    lines += ["By campaign (decisions / would change):"]
    lines += [f"  {c['campaign_id']}: {c['total']} / {c['changed']}" for c in report["by_campaign"]]
    for sample in report["samples"][:5]:
        before, after = sample["before"], sample["after"]
        lines.append(f"  {sample['decision_id']} {sample['customer_id']}: {before['outcome']} -> {after['outcome']}: "
                     f"{(after['reasons'] or [{'explanation': 'no rule matched'}])[0]['explanation']}")
    return "\n".join(lines)


COMMANDS = (rules_push, rules_pull, rules_versions, rules_diff, rules_activate, rules_rollback, rules_backtest)
