"""`guard audit verify|purge` and `guard customers erase`."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import click

from guard.audit.retention import erase_customer, purge
from guard.audit.verify import verify
from guard.db import Database


def _db() -> AbstractContextManager[Database]:
    from guard.cli import _database, _settings  # the shared plumbing of every command

    return _database(_settings())


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_verify(as_json: bool) -> None:
    """Re-compute the hash chain; name the first record altered, removed or inserted (exit 1)."""
    with _db() as db, db.sessions() as session:
        report = verify(session)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    elif report.ok:
        click.echo(f"OK: {report.records} records verified; head {report.head}")
    else:
        problem = report.problems[0]
        click.echo(f"TAMPERED: {problem.message} ({problem.kind}: {problem.record})")
    if not report.ok:
        raise click.exceptions.Exit(1)


@audit.command("purge")
@click.option("--before", required=True, help="Remove records older than this date (YYYY-MM-DD or ISO-8601).")
def audit_purge(before: str) -> None:
    """Remove decisions, events and chain records older than a date, except what current decisions depend on."""
    cutoff = _instant(before)
    with _db() as db:
        result = purge(db, cutoff)
    if not result["purged"]:
        click.echo(f"Nothing recorded before {cutoff.isoformat()}.")
        return
    click.echo(f"Purged {result['records']} records ({result['decisions']} decisions, {result['events']} events) "
               f"up to #{result['upto_seq']}; the chain now starts from a checkpoint. Kept and chained again what "
               f"current decisions depend on: {result['kept_events']} events, {result['kept_decisions']} decisions.")


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        message = f"{text!r} is not a date (YYYY-MM-DD) or ISO-8601 time"
        raise click.BadParameter(message, param_hint="--before") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@click.group()
def customers() -> None:
    """A customer's data in Guard."""


@customers.command("erase")
@click.argument("customer_id", metavar="ID")
def customers_erase(customer_id: str) -> None:
    """Erase a customer's personal data: events deleted, decisions scrubbed, a withdrawn consent kept as a marker."""
    with _db() as db:
        result = erase_customer(db, customer_id)
    click.echo(f"Erased {customer_id}: {result['events_deleted']} events deleted, "
               f"{result['decisions_pseudonymised']} decisions scrubbed, now under {result['customer']}; "
               f"{result['suppressions']} consent withdrawals kept as suppression markers.")
