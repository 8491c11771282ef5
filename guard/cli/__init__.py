"""The `guard` command line: one module per command group (guard.cli.main assembles them) over guard.cli.common."""

from guard.cli.main import main

__all__ = ["main"]
