"""The test cases written inside rule files run through the real evaluation, and a failing one is reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from guard.policy.ast import RuleSource
from guard.policy.evaluate import Evaluator
from guard.policy.parser import read_directory
from guard.policy.ruleset import STARTER_RULES, build_evaluator
from guard.policy.testing import run_tests

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_of_the_shipped_rule_files_passes(starter_evaluator: Evaluator) -> None:
    results = run_tests(starter_evaluator)
    assert len(results) >= 20
    failed = [f"{r.file}:{r.line} {r.name}: {r.message}" for r in results if not r.passed]
    assert failed == []


def test_every_starter_rule_has_tests(starter_evaluator: Evaluator) -> None:
    tested = set()
    for result in run_tests(starter_evaluator):
        tested.update(result.message.split("rules=")[1].split(",") if "rules=" in result.message else [])
    assert {rule.id for rule in starter_evaluator.compiled.ruleset.rules} <= tested


def test_the_installed_starter_pack_is_the_rules_directory() -> None:
    shipped = {s.name: s.text for s in read_directory(ROOT / "rules")}
    installed = {s.name: s.text for s in read_directory(STARTER_RULES)}
    assert shipped == installed


FILE = """
rules:
  - id: night-owl
    description: no campaign at night
    when:
      - local_time: {between: ["22:00", "06:00"]}
    outcome: defer
    defer_until: {next_local_time: "06:00"}
    explanation: "It is {local_time}."
tests:
  - name: a message at 23:00 waits until 06:00
    message: {channel: email, purpose: marketing, send_at: "2026-03-10T23:00:00Z"}
    expect: {outcome: defer, defer_until: "2026-03-11T06:00:00Z", rule_id: night-owl, rules: [night-owl]}
  - name: a message at noon is wrongly expected to wait
    message: {channel: email, purpose: marketing}
    expect: {outcome: defer}
  - name: wrong route and wrong rule
    message: {channel: email, purpose: marketing, send_at: "2026-03-10T23:00:00Z"}
    expect: {outcome: defer, route: care, rule_id: other, defer_until: "2026-03-11T07:00:00Z"}
  - name: invalid input
    events:
      - {type: complaint.opened, ago: 2d, data: {}}
    message: {channel: email, purpose: marketing}
    expect: {outcome: allow}
"""


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    evaluator = build_evaluator([RuleSource("night.yaml", textwrap.dedent(FILE).lstrip())])
    try:
        yield {r.name: r for r in run_tests(evaluator)}
    finally:
        evaluator.close()


def test_a_passing_file_test_is_reported_passed(results) -> None:  # type: ignore[no-untyped-def]
    result = results["a message at 23:00 waits until 06:00"]
    assert (result.passed, result.file, result.line) == (True, "night.yaml", 10)
    assert result.message == "defer defer_until=2026-03-11T06:00:00Z rules=night-owl"


def test_a_failing_file_test_is_reported_with_its_file_and_line(results) -> None:  # type: ignore[no-untyped-def]
    result = results["a message at noon is wrongly expected to wait"]
    assert (result.passed, result.file, result.line) == (False, "night.yaml", 13)
    assert result.message == "expected outcome defer (got allow)"
    assert result.to_dict() == {"name": result.name, "file": "night.yaml", "line": 13, "passed": False,
                                "message": "expected outcome defer (got allow)"}


def test_every_mismatch_of_a_failing_test_is_listed(results) -> None:  # type: ignore[no-untyped-def]
    result = results["wrong route and wrong rule"]
    assert (result.passed, result.line) == (False, 16)
    assert result.message == (
        "expected route care; expected defer_until 2026-03-11T07:00:00Z; "
        "expected winning rule other (got defer defer_until=2026-03-11T06:00:00Z rules=night-owl)")


def test_invalid_test_input_fails_the_test_with_a_reason(results) -> None:  # type: ignore[no-untyped-def]
    result = results["invalid input"]
    assert (result.passed, result.line) == (False, 19)
    assert result.message.startswith("invalid test input: event 1: type and data as the events API requires them")
    assert "case_id" in result.message
