"""`release:` on blocking cases: parsed, refused with file:line:column when wrong, and named by the verdict
with the open case the block matched."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from guard.core.message import Message
from guard.policy.ast import ReleaseSpec, RuleSource
from guard.policy.evaluate import Release
from guard.policy.parser import parse_sources
from guard.policy.ruleset import build_evaluator
from guard.situation.derive import EventRecord, derive

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def rule(case: str, when: str = "- message.purpose: survey") -> str:
    return textwrap.dedent("""\
        rules:
          - id: r
            description: d
            when:
              {when}
            cases:
              {case}
        """).format(when=when, case=textwrap.indent(textwrap.dedent(case), "      ").lstrip())


def problems(text: str) -> list[tuple[int, int, str]]:
    _, found = parse_sources([RuleSource("r.yaml", text)])
    return [(p.line, p.column, p.message) for p in found if p.severity == "error"]


BLOCK = """\
    - when:
        - open_case: {kind: complaint}
          as: complaint
      outcome: block
      release: %s
      explanation: open
    """


def test_a_release_is_parsed_into_the_case() -> None:
    ruleset, found = parse_sources([RuleSource("r.yaml", rule(BLOCK % "{when: case_closed, after: 3d}"))])
    assert found == []
    assert ruleset.rules[0].cases[0].release == ReleaseSpec("case_closed", 3 * 86400)
    ruleset, _ = parse_sources([RuleSource("r.yaml", rule(BLOCK % "{when: case_closed}"))])
    assert ruleset.rules[0].cases[0].release == ReleaseSpec("case_closed", 0)


@pytest.mark.parametrize(("release", "column", "message"), [
    ("{when: case_close}", 25, "release when must be one of case_closed, not 'case_close' (did you mean"),
    ("{when: case_closed, after: 3x}", 45, "release after: '3x' is not a duration"),
    ("{when: case_closed, after: 400d}", 45, "release after is at most 365d"),
    ("{after: 3d}", 18, "release needs `when` (case_closed)"),
    ("{when: case_closed, until: 3d}", 38, "unknown key 'until' in release"),
    ("case_closed", 18, "release must be a mapping"),
])
def test_bad_release_values_are_located(release: str, column: int, message: str) -> None:
    line, col, text = problems(rule(BLOCK % release))[0]  # (an unreadable case leaves its rule without cases)
    assert (line, col) == (11, column), text
    assert text.startswith(message)


def test_only_a_block_takes_a_release() -> None:
    text = rule("""\
        - outcome: defer
          defer_until: {next_local_time: "08:00"}
          release: {when: case_closed}
          explanation: later
        """)
    assert problems(text) == [(9, 18, "only a block takes a release (it says when the block clears)")]


def test_a_release_needs_exactly_one_open_case_to_wait_for() -> None:
    none = rule("""\
        - outcome: block
          release: {when: case_closed}
          explanation: always
        """)
    [(line, column, text)] = problems(none)
    assert (line, column) == (8, 18) and "exactly one open_case condition" in text and "(it has 0)" in text
    two = rule(BLOCK % "{when: case_closed}", when="- open_case: {kind: refund}")
    assert "(it has 2)" in problems(two)[0][2]
    inside_any = rule("""\
        - when:
            - any:
                - open_case: {kind: complaint}
                - open_case: {kind: refund}
          outcome: block
          release: {when: case_closed}
          explanation: either
        """)
    assert "(it has 0)" in problems(inside_any)[0][2]
    none_open = rule("""\
        - when:
            - open_case: {kind: complaint, count: 0}
          outcome: block
          release: {when: case_closed}
          explanation: no complaint
        """)
    assert "may find no case" in problems(none_open)[0][2]


def test_a_rule_never_writes_outcome_hold() -> None:
    text = rule("""\
        - outcome: hold
          explanation: held
        """)
    assert "a rule does not hold: write outcome: block with a release" in problems(text)[0][2]


def _complaint(case_id: str, days: int, event_id: str) -> EventRecord:
    return EventRecord(event_id, "complaint.opened", AT - timedelta(days=days), {"case_id": case_id})


def test_the_verdict_names_the_winning_blocks_release_and_the_oldest_open_case() -> None:
    evaluator = build_evaluator([RuleSource("r.yaml", rule(BLOCK % "{when: case_closed, after: 3d}"))])
    try:
        message = Message("c", "email", "survey", AT)
        situation = derive([_complaint("C-new", 1, "e2"), _complaint("C-old", 5, "e1")], AT)
        verdict = evaluator.evaluate(message, situation, [])
        assert verdict.outcome == "block"
        assert verdict.release == Release("complaint", "C-old", 3 * 86400)
        assert verdict.reasons[0].release == verdict.release
        assert verdict.release.waiting_for() == {"kind": "complaint", "case_id": "C-old", "then": "3d after it closes"}
        assert Release("refund", "R", 0).then == "when it closes"
        assert Release("refund", "R", 36 * 3600).then == "1d12h after it closes"
        assert evaluator.evaluate(message, derive([], AT), []).release is None
    finally:
        evaluator.close()


def test_a_release_of_a_block_that_does_not_win_is_not_the_verdicts(starter_evaluator) -> None:
    """Consent (no release, higher priority) wins over the open complaint's block: nothing to hold."""
    message = Message("c", "email", "survey", AT)
    events = [_complaint("C-1", 1, "e1"),
              EventRecord("e2", "consent.withdrawn", AT - timedelta(days=1), {"channel": "email", "purpose": "survey"})]
    verdict = starter_evaluator.evaluate(message, derive(events, AT), [])
    assert verdict.outcome == "block" and verdict.reasons[0].rule_id == "consent"
    assert verdict.release is None
    assert verdict.reasons[1].release == Release("complaint", "C-1", 3 * 86400)
