"""`guard sources`: the vendors whose webhooks Guard accepts, each with its signing secret (stored encrypted)."""

from __future__ import annotations

import getpass

import click

from guard.cli.common import database, minute, settings_from_env, table
from guard.inbound import KINDS
from guard.sources.usecases import add_source, describe, list_sources, remove_source


@click.group()
def sources() -> None:
    """Add, list and remove vendor webhook sources (secrets are stored encrypted and never shown)."""


@sources.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(sorted(KINDS)), help="The vendor's webhook scheme.")
@click.option("--secret", prompt=True, hide_input=True,
              help="The vendor's signing secret (asked for without echo when not given).")
@click.option("--customer-field", default=None, metavar="DOTTED.PATH",
              help="A payload field to use as the customer reference instead, e.g. customer.email.")
def sources_add(name: str, kind: str, secret: str, customer_field: str | None) -> None:
    """Add a source NAME; prints the URL path to give the vendor."""

    settings = settings_from_env()
    with database(settings) as db:
        added = add_source(db, settings.audit_key, {"name": name, "kind": kind, "secret": secret,
                                                    "customer_field": customer_field}, f"cli:{getpass.getuser()}")
    click.echo(f"Added source {added['name']} ({added['kind']}). Point the vendor's webhooks at:", err=True)
    click.echo(added["path"])


@sources.command("list")
def sources_list() -> None:
    """Every source: name, kind, customer field, path, added (never the secret)."""

    with database(settings_from_env()) as db, db.sessions() as session:
        rows = [(s.name, s.kind, s.customer_field or "-", describe(s)["path"], minute(s.created_at))
                for s in list_sources(session)]
    if not rows:
        click.echo("No sources yet: guard sources add NAME --kind shopify --secret SECRET", err=True)
        return
    for line in table(("NAME", "KIND", "CUSTOMER FIELD", "PATH", "ADDED"), rows):
        click.echo(line)


@sources.command("remove")
@click.argument("name")
def sources_remove(name: str) -> None:
    """Remove a source: its deliveries are refused from now on."""

    with database(settings_from_env()) as db:
        removed = remove_source(db, name)
    click.echo(f"Removed source {removed['name']} at {removed['removed_at']}.")
