"""Fixtures for the rule lifecycle: rule files as sources, and a Guard whose rules come from the version log."""

from __future__ import annotations

import pytest

from guard.policy.ast import RuleSource
from guard.policy.parser import read_directory
from tests.conftest import RULES_DIR


@pytest.fixture
def starter_sources() -> list[RuleSource]:
    return read_directory(RULES_DIR)


def replace_in(sources: list[RuleSource], name: str, old: str, new: str) -> list[RuleSource]:
    """A copy of the sources with one text replacement in one file (which must apply)."""
    out = []
    for source in sources:
        if source.name == name:
            assert old in source.text, f"{old!r} not in {name}"
            source = RuleSource(name, source.text.replace(old, new, 1))
        out.append(source)
    return out
