"""Migration 0016 moves reasons inline and the reviewers' index behind the writer, for existing rows too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from guard.decisions.projector import lag, minute_of, project_once
from guard.storage.database import Database
from guard.storage.migrations import alembic_config, upgrade
from guard.storage.sql import Sql
from tests.conftest import fresh_postgres_database

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)
COLUMNS = ("id, decision_id, customer_id, campaign_id, channel, purpose, send_at, outcome, route, defer_until, "
           "rules_version, evaluated_at, idempotency_key, idempotency_scope, request_hash, request, facts, "
           "api_key_name")


@pytest.fixture
def empty_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    if db_url.startswith("postgresql"):
        with fresh_postgres_database(db_url) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"


def _decision(sql: Sql, pk: int, outcome: str, campaign: str | None) -> None:
    sql.run(f"INSERT INTO decisions ({COLUMNS}) VALUES (?, ?, ?, ?, 'email', 'marketing', ?, ?, NULL, NULL, '1', "
            f"?, NULL, 0, 'h', '{{}}', '{{}}', 'k')", (pk, f"d-{pk}", f"c-{pk}", campaign, sql.time(AT), outcome,
                                                     sql.time(AT)))


def _reason(sql: Sql, pk: int, position: int, rule: str) -> None:
    sql.run("INSERT INTO decision_reasons (decision_pk, position, rule_id, outcome, explanation) "
            "VALUES (?, ?, ?, 'block', ?)", (pk, position, rule, f"{rule} said so"))


def _all(db: Database, query: str) -> list[Any]:
    with db.raw_reads() as sql:
        return [tuple(row) for row in sql.rows(query)]


def test_existing_decisions_get_inline_reasons_an_index_and_a_cursor_and_back(empty_url: str):
    upgrade(empty_url, "0015")
    db = Database(empty_url)
    try:
        with db.raw_transaction() as sql:
            _decision(sql, 1, "block", "spring")
            _reason(sql, 1, 1, "consent")
            _reason(sql, 1, 0, "just-bought")  # inserted out of order: position decides
            _decision(sql, 2, "allow", None)
        upgrade(empty_url)
        with db.raw_reads() as sql:
            inline = {pk: sql.read_json(text) for pk, text in sql.rows("SELECT id, reasons FROM decisions")}
        assert inline == {1: [{"rule_id": "just-bought", "outcome": "block", "explanation": "just-bought said so"},
                              {"rule_id": "consent", "outcome": "block", "explanation": "consent said so"}], 2: []}
        assert _all(db, "SELECT rule_id, decision_pk, position FROM decision_rules ORDER BY 3") == [
            ("just-bought", 1, 0), ("consent", 1, 1)]
        assert _all(db, "SELECT campaign_id, decision_pk FROM decision_campaigns") == [("spring", 1)]
        assert _all(db, "SELECT minute, first_pk, last_pk FROM decision_minutes") == [(minute_of(AT), 1, 2)]
        assert _all(db, "SELECT name, upto FROM projections") == [("decisions", 2)]
        assert lag(db).behind == 0
        assert project_once(db) == 0  # the existing rows are projected already

        with db.raw_transaction() as sql:  # written after the upgrade, not projected yet
            _decision(sql, 3, "block", None)
            sql.run("UPDATE decisions SET reasons = ? WHERE id = 3",
                    ('[{"rule_id": "consent", "outcome": "block", "explanation": "no"}]',))
        command.downgrade(alembic_config(empty_url), "0015")
        assert _all(db, "SELECT decision_pk, position, rule_id FROM decision_reasons ORDER BY 1, 2") == [
            (1, 0, "just-bought"), (1, 1, "consent"), (3, 0, "consent")]
        upgrade(empty_url)
        assert _all(db, "SELECT decision_pk, rule_id FROM decision_rules ORDER BY 1, 2") == [
            (1, "consent"), (1, "just-bought"), (3, "consent")]
    finally:
        db.dispose()
