"""`guard audit verify|head|purge|erase` (erase also as `guard customers erase`)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import func, select

from guard.audit.retention import erase_customer, purge
from guard.audit.verify import Head, current_head, verify
from guard.cli.common import database, settings_from_env
from guard.cli.progress import progress_bar
from guard.ledger.digests import key_id
from guard.storage.database import Database
from guard.storage.tables.audit import AuditRecord


def _db() -> AbstractContextManager[Database]:
    """The configured, migrated database."""
    return database(settings_from_env())


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--since-head", "since_head", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A head exported earlier by `guard audit head`: its record must still be in the chain.")
def audit_verify(as_json: bool, since_head: str | None) -> None:
    """Re-compute the keyed hash chain; name the first record altered, removed or inserted (exit 1)."""
    with _db() as db, db.sessions() as session:  # keys the process first: the head's signature needs it
        since = _read_head(Path(since_head).read_text(encoding="utf-8")) if since_head is not None else None
        total = session.scalar(select(func.count()).select_from(AuditRecord))
        with progress_bar("Verifying the audit chain", total, unit="records") as bar:
            report = verify(session, since, bar.update)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    elif report.ok:
        legacy = f" ({report.legacy} chained before keying)" if report.legacy else ""
        click.echo(f"OK: {report.records} records verified{legacy}; head #{report.head_seq} {report.head}")
    else:
        problem = report.problems[0]
        click.echo(f"TAMPERED: {problem.message} ({problem.kind}: {problem.record})")
    if not report.ok:
        raise click.exceptions.Exit(1)


@audit.command("head")
def audit_head() -> None:
    """Print the chain's newest record (seq, hash, time) signed with the audit key, as JSON to keep outside
    the database; `guard audit verify --since-head FILE` then catches removal of the newest records."""
    with _db() as db, db.sessions() as session:
        head = current_head(session)
    click.echo(json.dumps(head.to_dict()))


def _read_head(text: str) -> Head:
    """A head file as `guard audit head` wrote it; refused unless signed with this audit key."""
    try:
        raw = json.loads(text)
        head = Head(int(raw["seq"]), str(raw["hash"]), str(raw["at"]), str(raw.get("key_id", "")),
                    str(raw["signature"]))
    except (ValueError, KeyError, TypeError):
        raise click.BadParameter("not a head written by `guard audit head`", param_hint="--since-head") from None
    if not head.authentic:
        other = f" (key id {head.key_id}, this key is {key_id()})" if head.key_id and head.key_id != key_id() else ""
        raise click.BadParameter(f"its signature does not match: it was altered, or signed with another audit "
                                 f"key{other}", param_hint="--since-head")
    return head


@audit.command("purge")
@click.option("--before", required=True, help="Remove records older than this date (YYYY-MM-DD or ISO-8601).")
def audit_purge(before: str) -> None:
    """Remove decisions, events, chain records, settled webhook messages and holds older than a date, except
    what current decisions and waiting holds depend on."""
    cutoff = _instant(before)
    with _db() as db:
        result = purge(db, cutoff)
    if not result["purged"]:
        click.echo(f"Nothing recorded before {cutoff.isoformat()}.")
    else:
        click.echo(f"Purged {result['records']} records ({result['decisions']} decisions, {result['events']} events) "
                   f"up to #{result['upto_seq']}; the chain now starts from a checkpoint. Kept and chained again "
                   f"what current decisions and waiting holds depend on: {result['kept_events']} events, "
                   f"{result['kept_decisions']} decisions.")
    click.echo(f"Removed {result['outbox_messages']} outbox messages settled before then "
               f"({result['webhook_deliveries']} deliveries) and {result['holds']} settled holds; pending deliveries "
               "and waiting holds stay.")


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
    if result["outbox_messages_scrubbed"] or result["care_notifications_deleted"]:
        # Their receivers may still have the bodies delivered before: the operator tells them.
        click.echo(f"{result['outbox_messages_scrubbed']} outbound messages scrubbed (deliveries still pending "
                   f"send the scrubbed body; those delivered cannot be recalled), "
                   f"{result['care_notifications_deleted']} care notifications forgotten.")
    if result["aliases_unlinked"]:
        # Their own events and decisions are theirs to erase by name: list them for the operator.
        names = result["aliases_unlinked"]
        click.echo(f"{len(names)} aliases unlinked ({', '.join(names)}); erase each of them too to remove "
                   "what was stored under it.")


audit.add_command(customers_erase, "erase")  # the retention commands live together; `customers erase` stays
