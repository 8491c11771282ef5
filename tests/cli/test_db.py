"""Migrations: the schema they build is exactly the models' schema; `guard db upgrade`."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from guard.storage.database import make_engine
from guard.storage.migrations import alembic_config, current_revision, head_revision, schema_differences, upgrade
from tests.cli.conftest import Invoke


def test_the_test_database_was_built_by_the_migrations_and_matches_the_models(engine: Engine, db_url: str):
    assert current_revision(db_url) == head_revision()
    with engine.connect() as connection:
        assert schema_differences(connection) == []


def test_upgrade_from_empty_builds_every_table_and_is_repeatable(cli_db_url: str):
    assert current_revision(cli_db_url) is None
    upgrade(cli_db_url)
    upgrade(cli_db_url)
    engine = make_engine(cli_db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            assert schema_differences(connection) == []
    finally:
        engine.dispose()
    assert {"api_keys", "events", "decisions", "decision_rules", "projections", "alembic_version"} <= tables
    assert current_revision(cli_db_url) == head_revision()


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(cli_db_url: str):
    from alembic import command

    upgrade(cli_db_url)
    command.downgrade(alembic_config(cli_db_url), "base")
    engine = make_engine(cli_db_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(cli_db_url)
    assert current_revision(cli_db_url) == head_revision()


def test_db_upgrade_command_reports_the_revision(invoke: Invoke, cli_db_url: str):
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    assert current_revision(cli_db_url) == head_revision()


def test_db_upgrade_with_a_bad_url_fails_with_a_message(invoke: Invoke):
    result = invoke("db", "upgrade", env={"GUARD_DATABASE_URL": "not a url"})
    assert result.exit_code == 1
    assert "GUARD_DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_when_the_database_is_unreachable_fails_without_showing_the_password(invoke: Invoke):
    url = "postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:1/none?connect_timeout=2"
    result = invoke("db", "upgrade", env={"GUARD_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "database error" in result.output
    assert "s3cret-pw" not in result.output
    assert "Traceback" not in result.output
