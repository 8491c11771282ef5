"""The `guard` command: the top-level group and its command groups, one module each."""

from __future__ import annotations

import click

from guard import __version__
from guard.cli import lifecycle
from guard.cli.audit import audit, customers
from guard.cli.campaign import campaign
from guard.cli.common import (
    GuardGroup,
)
from guard.cli.db import db
from guard.cli.events import events
from guard.cli.keys import keys
from guard.cli.rules import rules
from guard.cli.serve import serve
from guard.cli.sources import sources
from guard.cli.webhooks import webhooks


@click.group(cls=GuardGroup)
@click.version_option(__version__, prog_name="guard")
def main() -> None:
    """Guard: a policy guard for outbound customer communications.

    Settings come from GUARD_* environment variables: GUARD_DATABASE_URL (default sqlite:///guard.db),
    GUARD_RULES_DIR (default ./rules if it has rule files, else the starter pack), GUARD_MAX_BODY_BYTES,
    GUARD_LOG_LEVEL.
    """



def _register_command_groups() -> None:
    """Every command group, each from its own module."""
    for command in (serve, keys, rules, db, events, campaign, sources, webhooks, audit, customers):
        main.add_command(command)
    for command in lifecycle.COMMANDS:
        rules.add_command(command)


_register_command_groups()

