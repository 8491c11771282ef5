"""Semantic validation: contradictions that make a rule case unmatchable, typos in event types."""

from __future__ import annotations

import pytest

from guard.policy.ast import RuleSource
from guard.policy.parser import parse_sources

RULE = """\
rules:
  - id: r
    description: d
    when:
{when}
    outcome: block
    explanation: e
"""


def _problems(when: str):
    _, problems = parse_sources([RuleSource("x.yaml", RULE.format(when=when))])
    return problems


@pytest.mark.parametrize("when", [
    "      - message.purpose: marketing\n      - message.purpose: survey",
    "      - message.purpose: {in: [survey, legal]}\n      - message.purpose: marketing",
    "      - message.channel: {not_in: [email, sms, push, phone, mail, in_app, whatsapp]}",
    "      - attributes.tier: gold\n      - attributes.tier: {ne: gold}",
    "      - profile.tenure_years: {gt: 5}\n      - profile.tenure_years: {lte: 5}",
    "      - profile.tenure_days: {gte: 10}\n      - profile.tenure_days: {lt: 10}",
    "      - attributes.vip: {exists: true}\n      - attributes.vip: {exists: false}",
    "      - event: {type: purchase.completed, within: 30d, count: {lt: 0}}",
])
def test_contradictions_are_errors_located_at_the_rule(when):
    (problem,) = [p for p in _problems(when) if p.severity == "error"]
    assert (problem.file, problem.line, problem.column, problem.rule_id) == ("x.yaml", 2, 5, "r")
    assert "can never match" in problem.message


@pytest.mark.parametrize("when", [
    "      - profile.tenure_years: {gte: 5}\n      - profile.tenure_years: {lte: 5}",
    "      - message.purpose: {in: [survey, marketing]}\n      - message.purpose: {ne: survey}",
    "      - any:\n          - message.purpose: marketing\n          - message.purpose: survey",
    "      - event: {type: purchase.completed, within: 30d, count: 0}",
])
def test_satisfiable_conditions_pass(when):
    assert [p for p in _problems(when) if p.severity == "error"] == []


def test_a_misspelt_event_type_is_a_warning_with_a_suggestion():
    (warning,) = _problems("      - event: {type: purchase.complete, within: 30d}")
    assert warning.severity == "warning" and "purchase.completed" in warning.message
    assert (warning.line, warning.column) == (5, 23)
