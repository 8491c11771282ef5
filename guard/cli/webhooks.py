"""`guard webhooks`: receivers of Guard's outbound webhooks (Standard Webhooks), and their deliveries."""

from __future__ import annotations

import getpass

import click

from guard.cli.common import database, minute, settings_from_env, table
from guard.outbound.deliveries import list_deliveries, redeliver
from guard.outbound.subscriptions import add_subscription, list_subscriptions, remove_subscription


@click.group()
def webhooks() -> None:
    """Subscribe receivers to Guard's events (signed the Standard Webhooks way) and follow their deliveries."""


@webhooks.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, metavar="EVENT",
              help="An event type to receive, e.g. care.requested (repeat for several).")
@click.option("--secret", default=None, metavar="whsec_...",
              help="The signing secret (whsec_ + base64 of 24-64 bytes); without it Guard makes one and prints "
                   "it once.")
def webhooks_add(url: str, events: tuple[str, ...], secret: str | None) -> None:
    """Subscribe URL to EVENTs; prints the subscription's id (and a generated secret, this once only)."""
    settings = settings_from_env()
    with database(settings) as db:
        added = add_subscription(db, settings.audit_key, {"url": url, "events": list(events), "secret": secret},
                                 f"cli:{getpass.getuser()}", public_only=settings.webhooks_public_only)
    click.echo(f"Added subscription {added['id']} for {', '.join(added['events'])} to {added['url']}.", err=True)
    click.echo(f"id: {added['id']}")
    if added["secret"]:
        click.echo(f"secret: {added['secret']}")
        click.echo("Give the secret to the receiver now: Guard stores it encrypted and never shows it again.",
                   err=True)


@webhooks.command("list")
def webhooks_list() -> None:
    """Every live subscription: id, URL, events, added (never the secret)."""
    with database(settings_from_env()) as db, db.sessions() as session:
        rows = [(str(s.id), s.url, " ".join(s.events), minute(s.created_at)) for s in list_subscriptions(session)]
    if not rows:
        click.echo("No subscriptions yet: guard webhooks add URL --event care.requested", err=True)
        return
    for line in table(("ID", "URL", "EVENTS", "ADDED"), rows):
        click.echo(line)


@webhooks.command("remove")
@click.argument("subscription_id", metavar="ID", type=int)
def webhooks_remove(subscription_id: int) -> None:
    """Stop sending to a subscription (its pending deliveries are cancelled)."""
    with database(settings_from_env()) as db:
        removed = remove_subscription(db, subscription_id)
    click.echo(f"Removed subscription {removed['id']} ({removed['url']}) at {removed['removed_at']}.")


@webhooks.command("deliveries")
@click.option("--failed", is_flag=True, help="Only those that failed (retried for their whole window).")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed", "cancelled"]), default=None,
              help="Only those of this status.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
def webhooks_deliveries(failed: bool, status: str | None, limit: int) -> None:
    """The newest deliveries: status, attempts, the receiver's last answer or error."""
    wanted = {"status": "failed" if failed else status, "limit": limit}
    with database(settings_from_env()) as db, db.sessions() as session:
        found = list_deliveries(session, wanted)
    if not found:
        click.echo("No deliveries" + (f" {wanted['status']}" if wanted["status"] else "") + ".", err=True)
        return
    rows = [(str(d["id"]), d["type"], str(d["subscription_id"]), d["status"], str(d["attempts"]),
             (d["last_error"] or (str(d["last_status"]) if d["last_status"] else "-"))[:80], d["message_id"])
            for d in found]
    for line in table(("ID", "EVENT", "SUBSCRIPTION", "STATUS", "ATTEMPTS", "LAST ANSWER", "WEBHOOK-ID"), rows):
        click.echo(line)


@webhooks.command("redeliver")
@click.argument("delivery_id", metavar="DELIVERY_ID", type=int)
def webhooks_redeliver(delivery_id: int) -> None:
    """Send a delivery again (a failed one, or one the receiver lost) with a new retry window."""
    settings = settings_from_env()
    with database(settings) as db:
        again = redeliver(db, delivery_id, settings.webhook_retry_for)
    click.echo(f"Delivery {again['id']} ({again['type']} to {again['url']}) will be sent again within seconds "
               "by a running `guard serve`.")

