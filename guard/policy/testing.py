"""Runs the test cases written inside rule files through the same evaluation as live decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import ValidationError

from guard.core.message import MessageSchema, PriorDecision, to_message
from guard.core.timeutil import as_utc, iso
from guard.core.vocabulary import OUTCOMES
from guard.policy.ast import RuleTestCase
from guard.policy.durations import parse_duration
from guard.policy.evaluate import Evaluator, Verdict
from guard.situation.derive import EventRecord, derive
from guard.situation.schemas import data_errors

# A rule test without send_at is evaluated at this fixed instant, so tests never depend on today.
DEFAULT_SEND_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class TestResult:
    """The outcome of one rule-file test."""

    name: str
    file: str
    line: int
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the API and CLI."""
        return {"name": self.name, "file": self.file, "line": self.line, "passed": self.passed,
                "message": self.message}


class _TestInputError(Exception):
    pass


def run_tests(evaluator: Evaluator) -> list[TestResult]:
    """Run every test case of the evaluator's rule set."""
    return [_run_one(evaluator, case) for case in evaluator.compiled.ruleset.tests]


def _run_one(evaluator: Evaluator, case: RuleTestCase) -> TestResult:
    loc = case.location
    try:
        verdict = _evaluate_case(evaluator, case)
    except _TestInputError as exc:
        return TestResult(case.name, loc.file, loc.line, False, f"invalid test input: {exc}")
    # A message that accepts holds (`hold: true`) is held where a block says how it clears.
    held = bool(case.message.get("hold")) and verdict.release is not None
    problems = _compare(case.expect, verdict, held)
    summary = _summary(verdict, held)
    if problems:
        return TestResult(case.name, loc.file, loc.line, False, "; ".join(problems) + f" (got {summary})")
    return TestResult(case.name, loc.file, loc.line, True, summary)


def _evaluate_case(evaluator: Evaluator, case: RuleTestCase) -> Verdict:
    try:
        data = MessageSchema().load({k: v for k, v in case.message.items() if k != "hold"})
    except ValidationError as exc:
        raise _TestInputError(f"message: {exc.messages}") from None
    message = to_message(data, "rule-test", DEFAULT_SEND_AT)
    events = [_event(raw, i, message.send_at) for i, raw in enumerate(case.events)]
    history = [_decision(raw, message.send_at) for raw in case.decisions]
    return evaluator.evaluate(message, derive(events, message.send_at), history)


def _when(raw: dict[str, Any], key: str, send_at: datetime) -> datetime:
    """An absolute time, or `ago: 3d` before the message's send_at."""
    try:
        if "ago" in raw:
            return send_at - timedelta(seconds=parse_duration(str(raw["ago"])))
        return as_utc(datetime.fromisoformat(str(raw[key]).replace("Z", "+00:00")))
    except (KeyError, ValueError) as exc:
        raise _TestInputError(f"give `{key}` (ISO-8601) or `ago` (a duration): {exc}") from None


def _event(raw: dict[str, Any], index: int, send_at: datetime) -> EventRecord:
    event_type = str(raw.get("type", ""))
    data = raw.get("data") or {}
    errors = data_errors(event_type, data) if isinstance(data, dict) else {"data": ["a mapping"]}
    if not event_type or errors:
        raise _TestInputError(f"event {index + 1}: type and data as the events API requires them: {errors}")
    return EventRecord(str(raw.get("event_id", f"test-{index}")), event_type, _when(raw, "occurred_at", send_at), data)


def _decision(raw: dict[str, Any], send_at: datetime) -> PriorDecision:
    outcome = raw.get("outcome", "allow")
    if outcome not in OUTCOMES:
        raise _TestInputError(f"decision outcome {outcome!r}")
    return PriorDecision(
        send_at=_when(raw, "send_at", send_at),
        purpose=str(raw.get("purpose", "marketing")),
        channel=str(raw.get("channel", "email")),
        outcome=outcome,
        campaign_id=raw.get("campaign_id"),
        rule_ids=tuple(raw.get("rule_ids", ())),
    )


def _compare(expect: dict[str, Any], verdict: Verdict, held: bool = False) -> list[str]:
    problems = []
    if expect.get("outcome") != ("hold" if held else verdict.outcome):
        problems.append(f"expected outcome {expect.get('outcome')}")
    if "waiting_for" in expect:
        waiting = verdict.release.waiting_for() if held and verdict.release else None
        if expect["waiting_for"] != waiting:
            problems.append(f"expected waiting_for {expect['waiting_for']}")
    if "route" in expect and expect["route"] != verdict.route:
        problems.append(f"expected route {expect['route']}")
    if "defer_until" in expect:
        wanted = _when({"t": expect["defer_until"]}, "t", DEFAULT_SEND_AT)
        if verdict.defer_until is None or as_utc(verdict.defer_until) != wanted:
            problems.append(f"expected defer_until {iso(wanted)}")
    winner = verdict.reasons[0].rule_id if verdict.reasons else None
    if "rule_id" in expect and expect["rule_id"] != winner:
        problems.append(f"expected winning rule {expect['rule_id']}")
    if "notify" in expect and expect["notify"] != (verdict.notify.notify if verdict.notify else None):
        problems.append(f"expected notify {expect['notify']}")
    if "rules" in expect and sorted(expect["rules"]) != sorted(r.rule_id for r in verdict.reasons):
        problems.append(f"expected matching rules {sorted(expect['rules'])}")
    return problems


def _summary(verdict: Verdict, held: bool = False) -> str:
    parts = ["hold" if held else verdict.outcome]
    if held and verdict.release:
        release = verdict.release
        parts.append(f"waiting_for={release.kind}:{release.case_id} ({release.then})")
    if verdict.route:
        parts.append(f"route={verdict.route}")
    if verdict.defer_until:
        parts.append(f"defer_until={iso(verdict.defer_until)}")
    if verdict.reasons:
        parts.append("rules=" + ",".join(r.rule_id for r in verdict.reasons))
    return " ".join(parts)
