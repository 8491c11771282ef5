"""`guard keys create|list|revoke`: API keys and their scopes."""

from __future__ import annotations

import click

from guard.auth.keys import SCOPES, create_key, list_keys, revoke_key
from guard.cli.common import (
    database,
    minute,
    settings_from_env,
    table,
)
from guard.core.timeutil import iso


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (stored hashed)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key, e.g. crm-prod.")
@click.option("--scope", "scopes", required=True, multiple=True, type=click.Choice(SCOPES),
              help="Repeat for several: decide, events, read, admin (admin implies all).")
def keys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key; the key itself is the last line printed, and is shown only this once."""
    with database(settings_from_env()) as db, db.transaction() as session:
        key, token = create_key(session, name, scopes)
        summary = f"Created API key {key.id} ({key.name}) with scopes {key.scopes.replace(',', ', ')}."
    click.echo(summary + " Store it now; it is not shown again:", err=True)
    click.echo(token)


@keys.command("list")
def keys_list() -> None:
    """Every key: id, name, prefix, scopes, created, revoked (never the key itself)."""
    with database(settings_from_env()) as db, db.sessions() as session:
        rows = [(str(k.id), k.name, k.prefix, k.scopes, minute(k.created_at), minute(k.revoked_at))
                for k in list_keys(session)]
    if not rows:
        click.echo("No API keys yet: guard keys create --name NAME --scope decide", err=True)
        return
    for line in table(("ID", "NAME", "PREFIX", "SCOPES", "CREATED", "REVOKED"), rows):
        click.echo(line)



@keys.command("revoke")
@click.argument("key_id", metavar="ID", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke a key by id (see `guard keys list`); every server refuses it within a second."""
    with database(settings_from_env()) as db, db.transaction() as session:
        key = revoke_key(session, key_id)
        message = f"Revoked API key {key.id} ({key.name}) at {iso(key.revoked_at)}; refused everywhere within 1 s."
    click.echo(message)


