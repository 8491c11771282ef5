"""`notify: care.requested` on a reroute case: parsed, checked with located errors, carried by the verdict."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from guard.core.message import Message
from guard.policy.ast import RuleError, RuleSource
from guard.policy.evaluate import MatchedCase
from guard.policy.parser import parse_sources
from guard.policy.ruleset import build_evaluator
from guard.policy.testing import run_tests
from guard.situation.derive import EventRecord, derive
from tests.conftest import RULES_DIR

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _parse(text: str) -> tuple[list[RuleError], list[RuleSource]]:
    sources = [RuleSource("n.yaml", textwrap.dedent(text).lstrip("\n"))]
    return [p for p in parse_sources(sources)[1] if p.severity == "error"], sources


def _errors(text: str) -> list[tuple[str, int, int, str | None, str]]:
    return [(e.file, e.line, e.column, e.rule_id, e.message) for e in _parse(text)[0]]


CARE = """
    rules:
      - id: care
        description: d
        priority: 5
        when:
          - message.purpose: marketing
        cases:
          - when:
              - open_case: {kind: complaint}
                as: complaint
            outcome: reroute
            route: care
            notify: care.requested
            explanation: "complaint {complaint.case_id}"
          - when:
              - attributes.vip: true
            outcome: reroute
            route: vip-desk
            notify: care.requested
            explanation: vip
          - outcome: reroute
            route: quiet
            explanation: no notify
    """


def test_a_reroute_case_may_notify_care_requested():
    errors, sources = _parse(CARE)
    assert errors == []
    rule = build_evaluator(sources).compiled.ruleset.rules[0]
    assert [c.notify for c in rule.cases] == ["care.requested", "care.requested", None]


def test_the_inline_form_takes_notify_too():
    assert _errors("""
        rules:
          - id: r
            description: d
            outcome: reroute
            route: care
            notify: care.requested
            explanation: e
        """) == []


def test_notify_on_a_case_that_does_not_reroute_is_an_error_where_it_is_written():
    assert _errors("""
        rules:
          - id: r
            description: d
            cases:
              - when:
                  - message.purpose: survey
                outcome: block
                notify: care.requested
                explanation: e
              - outcome: allow
                explanation: e
        """) == [("n.yaml", 8, 17, "r", "only a reroute takes notify (this case's outcome is block)")]


def test_an_unknown_event_name_is_an_error_with_a_suggestion():
    [(file, line, column, rule_id, message)] = _errors("""
        rules:
          - id: r
            description: d
            outcome: reroute
            route: care
            notify: care.request
            explanation: e
        """)
    assert (file, line, column, rule_id) == ("n.yaml", 6, 13, "r")
    assert "unknown event 'care.request'" in message and "did you mean 'care.requested'" in message


def test_notify_must_be_a_text():
    [(_, line, column, _, message)] = _errors("""
        rules:
          - id: r
            description: d
            outcome: reroute
            route: care
            notify: [care.requested]
            explanation: e
        """)
    assert (line, column) == (6, 13) and "notify must be a non-empty text" in message


def _evaluate(events: list[EventRecord], **attributes):
    evaluator = build_evaluator(_parse(CARE)[1])
    message = Message(customer_id="c1", channel="email", purpose="marketing", send_at=AT, campaign_id="spring",
                      attributes=attributes)
    return evaluator.evaluate(message, derive(events, AT), [])


def _opened(event_id: str, case_id: str, at: str) -> EventRecord:
    return EventRecord(event_id, "complaint.opened", datetime.fromisoformat(at), {"case_id": case_id})


def test_the_verdict_carries_the_winning_notify_case_and_the_oldest_matched_open_case():
    verdict = _evaluate([_opened("e2", "K-2", "2026-03-09T00:00:00+00:00"),
                         _opened("e1", "K-1", "2026-03-08T00:00:00+00:00")])
    assert verdict.outcome == "reroute" and verdict.notify is not None
    notify = verdict.notify
    assert (notify.rule_id, notify.route, notify.notify, notify.explanation) == (
        "care", "care", "care.requested", "complaint K-1")
    assert notify.case == MatchedCase("complaint", "K-1", datetime(2026, 3, 8, tzinfo=UTC))
    assert notify.case.to_dict() == {"kind": "complaint", "id": "K-1", "opened_at": "2026-03-08T00:00:00Z"}


def test_a_notify_case_without_an_open_case_carries_no_case():
    verdict = _evaluate([], vip=True)
    assert verdict.notify is not None and (verdict.notify.route, verdict.notify.case) == ("vip-desk", None)


def test_a_reroute_without_notify_carries_nothing_and_neither_does_an_allow():
    assert _evaluate([]).notify is None  # the `quiet` case: a reroute, no notify
    message = Message(customer_id="c1", channel="email", purpose="service", send_at=AT)
    assert build_evaluator(_parse(CARE)[1]).evaluate(message, derive([], AT), []).notify is None


def test_only_the_winner_notifies():
    errors, sources = _parse("""
        rules:
          - id: blocker
            description: d
            outcome: block
            explanation: blocked
          - id: care
            description: d
            outcome: reroute
            route: care
            notify: care.requested
            explanation: care
        """)
    assert errors == []
    message = Message(customer_id="c1", channel="email", purpose="marketing", send_at=AT)
    verdict = build_evaluator(sources).evaluate(message, derive([], AT), [])
    assert verdict.outcome == "block" and verdict.notify is None


def test_care_first_notifies_and_its_embedded_tests_pass():
    evaluator = build_evaluator(
        [RuleSource(p.name, p.read_text()) for p in sorted(RULES_DIR.glob("*.yaml"))])
    care = next(r for r in evaluator.compiled.ruleset.rules if r.id == "care-first")
    assert {c.notify for c in care.cases} == {"care.requested"}
    results = run_tests(evaluator)
    assert results and all(r.passed for r in results), [r.to_dict() for r in results if not r.passed]


def test_an_embedded_test_may_expect_notify():
    text = CARE + """
    tests:
      - name: expects a notify that is not there
        message: {channel: email, purpose: marketing}
        expect: {outcome: reroute, route: quiet, notify: care.requested}
    """
    [result] = run_tests(build_evaluator(_parse(text)[1]))
    assert not result.passed and "expected notify care.requested" in result.message
