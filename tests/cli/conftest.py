"""CLI fixtures: the CLI opens its own engine, so each test gets a database of its own (not the rolled-back
test connection): a fresh PostgreSQL database next to the suite's, or a new SQLite file."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from guard.cli import main
from tests.conftest import RULES_DIR

Invoke = Callable[..., Result]


@pytest.fixture
def cli_db_url(served_db_url: str) -> str:
    """An empty database the CLI may create its schema in."""
    return served_db_url


@pytest.fixture
def cli_env(cli_db_url: str) -> dict[str, str]:
    """GUARD_* settings of a CLI run: its own database, the repository's rules."""
    return {"GUARD_DATABASE_URL": cli_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}


@pytest.fixture
def invoke(cli_env: dict[str, str]) -> Invoke:
    """Run `guard ARGS...` in-process; `input` feeds stdin, `env` adds or overrides variables."""

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, env={**cli_env, **(env or {})},
                                  catch_exceptions=False)

    return run
