"""`guard keys create | list | revoke` on a database of the CLI's own."""

from __future__ import annotations

import pytest

from guard.auth.keys import authenticate
from guard.core.errors import Unauthenticated
from guard.storage.database import Database
from tests.cli.conftest import Invoke


def _check(url: str, token: str) -> frozenset[str]:
    db = Database(url)
    try:
        with db.sessions() as session:
            return authenticate(session, token).scope_set
    finally:
        db.dispose()


def test_create_prints_the_key_as_the_last_line_and_it_works(invoke: Invoke, cli_db_url: str):
    result = invoke("keys", "create", "--name", "crm", "--scope", "decide", "--scope", "events")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("gk_")
    assert result.stdout.strip() == token  # stdout is the key alone: KEY=$(guard keys create ...)
    assert _check(cli_db_url, token) == {"decide", "events"}


def test_create_on_a_fresh_database_creates_the_schema_first(invoke: Invoke, cli_db_url: str):
    from guard.storage.migrations import current_revision, head_revision

    assert current_revision(cli_db_url) is None
    assert invoke("keys", "create", "--name", "a", "--scope", "admin").exit_code == 0
    assert current_revision(cli_db_url) == head_revision()


@pytest.mark.parametrize("args", [
    ["--name", "x"],  # no scope
    ["--scope", "decide"],  # no name
    ["--name", "x", "--scope", "everything"],  # unknown scope
])
def test_create_refuses_incomplete_options(invoke: Invoke, args: list[str]):
    result = invoke("keys", "create", *args)
    assert result.exit_code == 2
    assert "gk_" not in result.output


def test_create_refuses_a_blank_name(invoke: Invoke):
    result = invoke("keys", "create", "--name", "  ", "--scope", "read")
    assert result.exit_code == 1
    assert "name" in result.output
    assert "Traceback" not in result.output


def test_list_shows_keys_without_the_secret(invoke: Invoke):
    token = invoke("keys", "create", "--name", "shop", "--scope", "events").stdout.strip()
    invoke("keys", "create", "--name", "reporting", "--scope", "read")
    result = invoke("keys", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PREFIX", "SCOPES", "CREATED", "REVOKED"]
    assert "reporting" in lines[1] and "shop" in lines[2]  # newest first
    assert token[:10] in lines[2]
    assert token not in result.output
    assert lines[2].rstrip().endswith("-")  # not revoked


def test_list_when_there_are_no_keys(invoke: Invoke):
    result = invoke("keys", "list")
    assert result.exit_code == 0
    assert "No API keys yet" in result.output


def test_revoke_stops_the_key_at_once(invoke: Invoke, cli_db_url: str):
    token = invoke("keys", "create", "--name", "old", "--scope", "decide").stdout.strip()
    key_id = invoke("keys", "list").stdout.splitlines()[1].split()[0]
    result = invoke("keys", "revoke", key_id)
    assert result.exit_code == 0
    assert "Revoked API key" in result.output
    with pytest.raises(Unauthenticated):
        _check(cli_db_url, token)
    assert "UTC" in invoke("keys", "list").stdout.splitlines()[1].split("decide", 1)[1]
    assert invoke("keys", "revoke", key_id).exit_code == 0  # revoking twice is harmless


def test_revoke_an_unknown_key_fails(invoke: Invoke):
    result = invoke("keys", "revoke", "999")
    assert result.exit_code == 1
    assert "No API key 999" in result.output


def test_revoke_needs_a_number(invoke: Invoke):
    assert invoke("keys", "revoke", "abc").exit_code == 2
