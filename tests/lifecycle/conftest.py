"""Fixtures for the rule lifecycle: rule files as sources, and a Guard whose rules come from the version log."""

from __future__ import annotations

import pytest

from guard.config import Settings
from guard.db import Database
from guard.lifecycle.active import ActiveRules
from guard.rules.loader import read_directory
from guard.rules.model import RuleSource
from guard.service import Guard
from tests.conftest import RULES_DIR


@pytest.fixture
def starter_sources() -> list[RuleSource]:
    return read_directory(RULES_DIR)


@pytest.fixture
def live_guard(db: Database, db_url: str) -> Guard:
    """A Guard like production: rules seeded into the version log and served from it."""
    guard = Guard(Settings(database_url=db_url, rules_dir=str(RULES_DIR)), db=db,
                  rules=ActiveRules(db, check_interval=0))
    guard.seed_rules()
    return guard


def replace_in(sources: list[RuleSource], name: str, old: str, new: str) -> list[RuleSource]:
    """A copy of the sources with one text replacement in one file (which must apply)."""
    out = []
    for source in sources:
        if source.name == name:
            assert old in source.text, f"{old!r} not in {name}"
            source = RuleSource(name, source.text.replace(old, new, 1))
        out.append(source)
    return out


@pytest.fixture
def committed_guard(committed_db: Database) -> Guard:
    """A production-like Guard on a database of its own that really commits."""
    guard = Guard(Settings(database_url=committed_db.url, rules_dir=str(RULES_DIR)), db=committed_db,
                  rules=ActiveRules(committed_db, check_interval=0))
    guard.seed_rules()
    return guard
