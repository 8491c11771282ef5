"""Evaluation and combination: which rules match, which one wins, and the times and words they give."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guard.core.message import Message, PriorDecision
from guard.policy.ast import RuleSource
from guard.policy.evaluate import Evaluator, Reason, Verdict, combine, next_local_time
from guard.policy.ruleset import build_evaluator
from guard.situation.derive import EventRecord, derive

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def reason(rule_id: str, outcome: str, priority: int = 0, exempt: bool = False, route: str | None = None,
           defer_until: datetime | None = None) -> Reason:
    return Reason(rule_id, outcome, f"{rule_id} says {outcome}", priority, exempt, route, defer_until)


def ids(verdict: Verdict) -> list[str]:
    return [r.rule_id for r in verdict.reasons]


# -- combine ------------------------------------------------------------------------------------------

def test_nothing_matched_allows_with_no_reasons() -> None:
    assert combine([]) == Verdict("allow", None, None, (), {})


def test_an_exempt_match_allows_and_comes_first() -> None:
    verdict = combine([reason("b", "block", 99), reason("t", "allow", 1, exempt=True),
                       reason("r", "reroute", 50, route="care")])
    assert (verdict.outcome, verdict.route, verdict.defer_until) == ("allow", None, None)
    assert ids(verdict) == ["t", "b", "r"]


def test_several_exempt_rules_come_first_by_priority() -> None:
    verdict = combine([reason("x", "block"), reason("e1", "allow", 1, exempt=True),
                       reason("e2", "allow", 5, exempt=True)])
    assert ids(verdict) == ["e2", "e1", "x"]


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)])
def test_severity_block_then_reroute_then_defer_then_allow(order: tuple[int, ...]) -> None:
    reasons = [reason("a", "allow", 100), reason("d", "defer", 90, defer_until=NOW),
               reason("r", "reroute", 80, route="care"), reason("b", "block", 1)]
    verdict = combine([reasons[i] for i in order])
    assert verdict.outcome == "block"
    assert ids(verdict) == ["b", "r", "d", "a"]
    assert combine([reasons[i] for i in order if i != 3]).outcome == "reroute"
    assert combine(reasons[:2]).outcome == "defer"
    assert combine(reasons[:1]).outcome == "allow"


def test_equal_outcomes_higher_priority_first() -> None:
    verdict = combine([reason("low", "reroute", 10, route="low-team"), reason("high", "reroute", 70, route="care"),
                       reason("mid", "reroute", 40, route="mid-team")])
    assert (verdict.outcome, verdict.route) == ("reroute", "care")
    assert ids(verdict) == ["high", "mid", "low"]


def test_equal_priority_is_broken_by_rule_id() -> None:
    assert ids(combine([reason("b", "block", 5), reason("a", "block", 5)])) == ["a", "b"]


def test_for_defer_the_latest_defer_until_wins_over_priority() -> None:
    early = reason("early", "defer", 90, defer_until=NOW + timedelta(hours=1))
    late = reason("late", "defer", 10, defer_until=NOW + timedelta(days=2))
    mid = reason("mid", "defer", 50, defer_until=NOW + timedelta(hours=5))
    verdict = combine([early, late, mid])
    assert (verdict.outcome, verdict.defer_until) == ("defer", NOW + timedelta(days=2))
    assert ids(verdict) == ["late", "mid", "early"]


def test_reasons_list_every_matched_rule_winner_first() -> None:
    reasons = [reason(f"r{i}", outcome, i) for i, outcome in enumerate(["allow", "block", "allow", "block"])]
    verdict = combine(reasons)
    assert ids(verdict) == ["r3", "r1", "r2", "r0"]
    assert sorted(ids(verdict)) == sorted(r.rule_id for r in reasons)


# -- the evaluator on rule files ----------------------------------------------------------------------

@pytest.fixture
def build() -> Iterator[Any]:
    made: list[Evaluator] = []

    def make(text: str) -> Evaluator:
        made.append(build_evaluator([RuleSource("t.yaml", textwrap.dedent(text).lstrip())]))
        return made[-1]

    yield make
    for evaluator in made:
        evaluator.close()


def decide(evaluator: Evaluator, channel: str = "email", purpose: str = "marketing", send_at: datetime = NOW,
           events: tuple[EventRecord, ...] = (), history: tuple[PriorDecision, ...] = (),
           **message: Any) -> Verdict:
    msg = Message("c1", channel, purpose, send_at, **message)
    return evaluator.evaluate(msg, derive(events, send_at), list(history))


def event(type_: str, at: datetime, event_id: str | None = None, **data: Any) -> EventRecord:
    return EventRecord(event_id or f"{type_}-{at.isoformat()}", type_, at, data)


def test_the_first_matching_case_of_a_rule_wins(build: Any) -> None:
    evaluator = build("""
        rules:
          - id: tiers
            description: d
            cases:
              - when: [attributes.tier: gold]
                outcome: reroute
                route: vip
                explanation: gold
              - when: [attributes.tier: {in: [gold, silver]}]
                outcome: block
                explanation: metal
              - outcome: allow
                explanation: everyone
        """)
    gold = decide(evaluator, attributes={"tier": "gold"})
    assert (gold.outcome, gold.route, [r.explanation for r in gold.reasons]) == ("reroute", "vip", ["gold"])
    silver = decide(evaluator, attributes={"tier": "silver"})
    assert (silver.outcome, [r.explanation for r in silver.reasons]) == ("block", ["metal"])
    assert [r.explanation for r in decide(evaluator).reasons] == ["everyone"]


def test_every_matching_rule_is_a_reason_winner_first(build: Any) -> None:
    evaluator = build("""
        rules:
          - {id: a, description: d, priority: 1, outcome: allow, explanation: a}
          - {id: b, description: d, priority: 2, when: [message.channel: email], outcome: block, explanation: b}
          - {id: c, description: d, priority: 3, when: [message.channel: sms], outcome: block, explanation: c}
          - {id: d, description: d, priority: 9, outcome: reroute, route: x, explanation: d}
        """)
    assert ids(decide(evaluator)) == ["b", "d", "a"]
    assert ids(decide(evaluator, channel="sms")) == ["c", "d", "a"]


def test_explanation_placeholders_are_filled_from_the_facts(starter_evaluator: Evaluator) -> None:
    events = (event("complaint.opened", NOW - timedelta(days=4, hours=2), case_id="C-77"),)
    verdict = decide(starter_evaluator, events=events)
    assert verdict.reasons[0].explanation == (
        "Complaint C-77 has been open for 4 days: the care team gets in touch before any campaign.")
    survey = decide(starter_evaluator, purpose="survey", events=events)
    assert survey.reasons[0].explanation == (
        "Complaint C-77 is still open (for 4 days): no satisfaction survey while the customer is waiting for an "
        "answer.")


@pytest.mark.parametrize(("opened", "said"), [
    (timedelta(days=1, hours=5), "open for 1 day:"),
    (timedelta(days=2), "open for 2 days:"),
    (timedelta(hours=1, minutes=59), "open for 1 hour:"),
    (timedelta(hours=7), "open for 7 hours:"),
    (timedelta(minutes=20), "open for less than an hour:"),
])
def test_an_age_reads_as_a_person_says_it(starter_evaluator: Evaluator, opened: timedelta, said: str) -> None:
    events = (event("complaint.opened", NOW - opened, case_id="C-5"),)
    assert said in decide(starter_evaluator, events=events).reasons[0].explanation


def test_a_reopened_complaint_counts_its_age_from_the_reopening(starter_evaluator: Evaluator) -> None:
    events = (event("complaint.opened", NOW - timedelta(days=20), case_id="C-1"),
              event("complaint.resolved", NOW - timedelta(days=10), case_id="C-1"),
              event("complaint.reopened", NOW - timedelta(days=2), case_id="C-1"))
    verdict = decide(starter_evaluator, events=events)
    assert (verdict.outcome, verdict.route) == ("reroute", "care")
    assert "open for 2 days" in verdict.reasons[0].explanation


def test_duplicate_events_are_counted_once_by_rules(build: Any) -> None:
    evaluator = build("""
        rules:
          - id: repeat-buyer
            description: d
            when:
              - event: {type: purchase.completed, within: 30d, count: {gte: 2}}
            outcome: block
            explanation: e
        """)
    purchase = event("purchase.completed", NOW - timedelta(days=1), "p1", order_id="O-1", product_ids=[])
    assert decide(evaluator, events=(purchase, purchase)).outcome == "allow"
    other = event("purchase.completed", NOW - timedelta(days=2), "p2", order_id="O-2", product_ids=[])
    assert decide(evaluator, events=(purchase, other, purchase)).outcome == "block"


# -- quiet hours across daylight saving time ---------------------------------------------------------

def in_zone(zone: str, when: datetime) -> tuple[EventRecord, ...]:
    return (event("profile.updated", when - timedelta(days=30), timezone=zone),)


@pytest.mark.parametrize(("zone", "send_at", "defer_until"), [
    # Europe/Paris springs forward on 2026-03-29 (02:00 CET -> 03:00 CEST)
    ("Europe/Paris", "2026-03-28T19:59:00Z", None),  # 20:59 CET
    ("Europe/Paris", "2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"),  # 21:00 CET -> 08:00 CEST
    ("Europe/Paris", "2026-03-29T00:59:00Z", "2026-03-29T06:00:00Z"),  # 01:59 CET
    ("Europe/Paris", "2026-03-29T01:00:00Z", "2026-03-29T06:00:00Z"),  # 03:00 CEST, just after the jump
    ("Europe/Paris", "2026-03-29T05:59:00Z", "2026-03-29T06:00:00Z"),  # 07:59 CEST
    ("Europe/Paris", "2026-03-29T06:00:00Z", None),  # 08:00 CEST
    ("Europe/Paris", "2026-03-29T19:00:00Z", "2026-03-30T06:00:00Z"),  # 21:00 CEST
    # ... and falls back on 2026-10-25 (03:00 CEST -> 02:00 CET)
    ("Europe/Paris", "2026-10-24T19:00:00Z", "2026-10-25T07:00:00Z"),  # 21:00 CEST -> 08:00 CET
    ("Europe/Paris", "2026-10-25T00:30:00Z", "2026-10-25T07:00:00Z"),  # 02:30 CEST, first time
    ("Europe/Paris", "2026-10-25T01:30:00Z", "2026-10-25T07:00:00Z"),  # 02:30 CET, second time
    ("Europe/Paris", "2026-10-25T06:59:00Z", "2026-10-25T07:00:00Z"),  # 07:59 CET
    ("Europe/Paris", "2026-10-25T07:00:00Z", None),  # 08:00 CET
    ("Europe/Paris", "2026-10-25T19:59:00Z", None),  # 20:59 CET
    ("Europe/Paris", "2026-10-25T20:00:00Z", "2026-10-26T07:00:00Z"),  # 21:00 CET
    # America/New_York springs forward on 2026-03-08 and falls back on 2026-11-01
    ("America/New_York", "2026-03-08T02:00:00Z", "2026-03-08T12:00:00Z"),  # 21:00 EST -> 08:00 EDT
    ("America/New_York", "2026-03-08T11:59:00Z", "2026-03-08T12:00:00Z"),  # 07:59 EDT
    ("America/New_York", "2026-03-08T12:00:00Z", None),  # 08:00 EDT
    ("America/New_York", "2026-11-01T01:00:00Z", "2026-11-01T13:00:00Z"),  # 21:00 EDT -> 08:00 EST
    ("America/New_York", "2026-11-01T06:30:00Z", "2026-11-01T13:00:00Z"),  # 01:30 EST, the repeated hour
    ("America/New_York", "2026-11-01T13:00:00Z", None),  # 08:00 EST
    # no profile time zone: UTC
    ("", "2026-03-10T21:00:00Z", "2026-03-11T08:00:00Z"),
    ("", "2026-03-10T07:59:59Z", "2026-03-10T08:00:00Z"),
])
def test_quiet_hours_defer_until_the_next_0800_local(starter_evaluator: Evaluator, zone: str, send_at: str,
                                                       defer_until: str | None) -> None:
    at = utc(send_at)
    verdict = decide(starter_evaluator, channel="sms", send_at=at, events=in_zone(zone, at) if zone else ())
    if defer_until is None:
        assert verdict.outcome == "allow", verdict
    else:
        assert (verdict.outcome, verdict.defer_until, ids(verdict)) == ("defer", utc(defer_until), ["quiet-hours"])


def test_next_local_time_is_strictly_later() -> None:
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    eight = datetime(2026, 3, 29, 8, 0, tzinfo=paris)
    assert next_local_time(eight, 8 * 60) == datetime(2026, 3, 30, 8, 0, tzinfo=paris)
    assert next_local_time(eight - timedelta(minutes=1), 8 * 60) == eight


@pytest.mark.parametrize(("now", "clock", "expected"), [
    ("2026-10-25T00:30:00Z", "02:45", "2026-10-25T00:45:00Z"),  # 02:30 summer time -> 02:45 summer time
    ("2026-10-25T00:50:00Z", "02:45", "2026-10-25T01:45:00Z"),  # 02:50 summer time -> 02:45 winter time
    ("2026-10-25T01:30:00Z", "02:45", "2026-10-25T01:45:00Z"),  # 02:30 winter time -> 02:45 winter time
    ("2026-10-25T01:50:00Z", "02:45", "2026-10-26T01:45:00Z"),
    ("2026-10-25T01:30:00Z", "02:15", "2026-10-26T01:15:00Z"),  # 02:15 has passed twice already
])
def test_next_local_time_in_the_repeated_hour(now: str, clock: str, expected: str) -> None:
    from zoneinfo import ZoneInfo

    local = utc(now).astimezone(ZoneInfo("Europe/Paris"))
    hours, minutes = map(int, clock.split(":"))
    assert next_local_time(local, hours * 60 + minutes).astimezone(UTC) == utc(expected)


def test_quiet_hours_leave_email_and_transactional_alone(starter_evaluator: Evaluator) -> None:
    night = utc("2026-03-10T23:00:00Z")
    assert decide(starter_evaluator, channel="email", send_at=night).outcome == "allow"
    verdict = decide(starter_evaluator, channel="sms", purpose="transactional", send_at=night)
    assert (verdict.outcome, ids(verdict)) == ("allow", ["exempt-transactional"])


# -- frequency cap ------------------------------------------------------------------------------------

def allowed(at: datetime, purpose: str = "marketing", outcome: str = "allow") -> PriorDecision:
    return PriorDecision(send_at=at, purpose=purpose, channel="email", outcome=outcome)


def test_frequency_cap_defers_until_the_oldest_of_the_last_three_is_a_week_old(
        starter_evaluator: Evaluator) -> None:
    history = (allowed(NOW - timedelta(days=6)), allowed(NOW - timedelta(days=3)), allowed(NOW - timedelta(hours=1)))
    verdict = decide(starter_evaluator, history=history)
    assert (verdict.outcome, verdict.defer_until, ids(verdict)) == (
        "defer", NOW + timedelta(days=1), ["frequency-cap"])
    assert verdict.reasons[0].explanation == (
        "3 marketing messages were already allowed in the last 7 days: this one waits until 2026-03-11T12:00:00Z.")


def test_with_four_in_the_window_the_release_is_when_only_two_remain(starter_evaluator: Evaluator) -> None:
    history = tuple(allowed(NOW - timedelta(days=d)) for d in (6, 5, 2, 1))
    verdict = decide(starter_evaluator, history=history)
    # At 5 days + 2 days from now both the 6- and the 5-day-old decisions are out of the window.
    assert (verdict.outcome, verdict.defer_until) == ("defer", NOW + timedelta(days=2))
    released = decide(starter_evaluator, history=history, send_at=NOW + timedelta(days=2))
    assert released.outcome == "allow"


def test_a_decision_exactly_seven_days_old_no_longer_counts(starter_evaluator: Evaluator) -> None:
    history = (allowed(NOW - timedelta(days=7)), allowed(NOW - timedelta(days=3)), allowed(NOW - timedelta(days=1)))
    assert decide(starter_evaluator, history=history).outcome == "allow"
    just_inside = (allowed(NOW - timedelta(days=7) + timedelta(seconds=1)), *history[1:])
    verdict = decide(starter_evaluator, history=just_inside)
    assert (verdict.outcome, verdict.defer_until) == ("defer", NOW + timedelta(seconds=1))


def test_only_allowed_marketing_decisions_count(starter_evaluator: Evaluator) -> None:
    history = (allowed(NOW - timedelta(days=1), outcome="defer"), allowed(NOW - timedelta(days=1), outcome="block"),
               allowed(NOW - timedelta(days=1), purpose="survey"), allowed(NOW - timedelta(days=2)),
               allowed(NOW - timedelta(days=3)))
    assert decide(starter_evaluator, history=history).outcome == "allow"
    assert decide(starter_evaluator, history=(*history, allowed(NOW))).outcome == "defer"
    # a decision planned after this send_at is not part of its past
    assert decide(starter_evaluator, history=(*history, allowed(NOW + timedelta(seconds=1)))).outcome == "allow"


# -- tenure -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("since", "send_at", "route"), [
    ("2023-03-10", "2026-03-10T00:00:00Z", "care-priority"),  # the third anniversary
    ("2023-03-10", "2026-03-09T23:59:59Z", "care"),  # the day before
    ("2023-03-11", "2026-03-10T12:00:00Z", "care"),
    ("2020-01-01", "2026-03-10T12:00:00Z", "care-priority"),
    ("2023-02-28", "2026-02-28T12:00:00Z", "care-priority"),
    ("2020-02-29", "2023-02-28T12:00:00Z", "care"),  # a 29 February customer's anniversary is 1 March
    ("2020-02-29", "2023-03-01T12:00:00Z", "care-priority"),
    ("2026-03-11", "2026-03-10T12:00:00Z", "care"),  # a customer_since in the future is no tenure
])
def test_tenure_boundary_on_the_anniversary(starter_evaluator: Evaluator, since: str, send_at: str,
                                            route: str) -> None:
    at = utc(send_at)
    events = (event("profile.updated", at - timedelta(days=400), customer_since=since),
              event("complaint.opened", at - timedelta(days=1), case_id="C-1"))
    verdict = decide(starter_evaluator, send_at=at, events=events)
    assert (verdict.outcome, verdict.route) == ("reroute", route)


# -- the other starter rules at their boundaries -----------------------------------------------------

def test_just_bought_exactly_30_days_ago_still_blocks(starter_evaluator: Evaluator) -> None:
    bought = event("purchase.completed", NOW - timedelta(days=30), order_id="O-1", product_ids=["P-1", "P-2"])
    assert decide(starter_evaluator, events=(bought,), product_ids=("P-2",)).outcome == "block"
    assert decide(starter_evaluator, events=(bought,), product_ids=("P-3",)).outcome == "allow"
    older = event("purchase.completed", NOW - timedelta(days=30, seconds=1), order_id="O-1", product_ids=["P-1"])
    assert decide(starter_evaluator, events=(older,), product_ids=("P-1",)).outcome == "allow"


def test_refund_pending_14_days_boundary(starter_evaluator: Evaluator) -> None:
    requested = event("refund.requested", NOW - timedelta(days=14), refund_id="R-1")
    verdict = decide(starter_evaluator, events=(requested,))
    assert (verdict.outcome, verdict.route) == ("reroute", "care")
    assert verdict.reasons[0].explanation.startswith("Refund R-1 has been pending for 14 days")
    younger = event("refund.requested", NOW - timedelta(days=14) + timedelta(seconds=1), refund_id="R-1")
    assert decide(starter_evaluator, events=(younger,)).outcome == "block"
    rejected = event("refund.rejected", NOW - timedelta(hours=1), refund_id="R-1")
    assert decide(starter_evaluator, events=(requested, rejected)).outcome == "allow"
    assert decide(starter_evaluator, purpose="service", events=(requested,)).outcome == "allow"


def test_survey_after_resolution_defers_to_three_days_after_it(starter_evaluator: Evaluator) -> None:
    resolved_at = NOW - timedelta(days=2, hours=23)
    events = (event("complaint.opened", NOW - timedelta(days=9), case_id="C-1"),
              event("complaint.resolved", resolved_at, case_id="C-1"))
    verdict = decide(starter_evaluator, purpose="survey", events=events)
    assert (verdict.outcome, verdict.defer_until) == ("defer", resolved_at + timedelta(days=3))
    assert decide(starter_evaluator, purpose="survey", events=events, send_at=resolved_at + timedelta(days=3)) \
        .outcome == "allow"


def test_consent_per_channel_and_purpose(starter_evaluator: Evaluator) -> None:
    withdrawn = event("consent.withdrawn", NOW - timedelta(days=2), channel="sms", purpose="survey")
    assert decide(starter_evaluator, channel="sms", purpose="survey", events=(withdrawn,),
                  send_at=NOW).outcome == "block"
    assert decide(starter_evaluator, channel="sms", purpose="marketing", events=(withdrawn,)).outcome == "allow"
    again = event("consent.given", NOW - timedelta(days=1), channel="sms", purpose="survey")
    assert decide(starter_evaluator, channel="sms", purpose="survey", events=(withdrawn, again)).outcome == "allow"


def test_every_context_placeholder_is_filled(build: Any) -> None:
    from guard.policy.parser import CONTEXT_PLACEHOLDERS

    placeholders = [*sorted(CONTEXT_PLACEHOLDERS), "attributes.tier", "message.attributes.tier"]
    evaluator = build(f"""
        rules:
          - id: says-all
            description: d
            outcome: block
            explanation: "{' | '.join('{' + p + '}' for p in placeholders)}"
        """)
    at = utc("2026-03-10T21:30:00Z")
    events = (event("profile.updated", at - timedelta(days=1), customer_since="2021-06-30", timezone="Europe/Paris"),
              event("consent.withdrawn", at - timedelta(days=1), channel="sms"))
    verdict = decide(evaluator, channel="sms", send_at=at, events=events, campaign_id="spring",
                     product_ids=("P-1", "P-2"), attributes={"tier": "gold"})
    rendered = dict(zip(placeholders, verdict.reasons[0].explanation.split(" | "), strict=True))
    assert rendered == {
        "consent": "withdrawn", "local_time": "22:30", "message.campaign_id": "spring", "message.channel": "sms",
        "message.product_ids": "P-1, P-2", "message.purpose": "marketing", "message.send_at": "2026-03-10T21:30:00Z",
        "profile.customer_since": "2021-06-30", "profile.tenure_days": "1714", "profile.tenure_years": "4",
        "profile.timezone": "Europe/Paris", "rule.id": "says-all", "attributes.tier": "gold",
        "message.attributes.tier": "gold",
    }


def test_binding_attributes_are_filled(build: Any) -> None:
    evaluator = build("""
        rules:
          - id: binds
            description: d
            when:
              - open_case: {kind: refund}
                as: refund
              - event: {type: purchase.completed, within: 30d}
                as: purchase
              - last_event: {type: complaint.resolved}
                as: resolution
              - decisions: {within: 7d, count: {gte: 2}}
                as: recent
            outcome: block
            explanation: >-
              {refund.refund_id} {refund.id} {refund.kind} {refund.opened_at} {refund.age_days} {refund.age_hours}
              {refund.count} {refund.data.reason} | {purchase.event_id} {purchase.type} {purchase.occurred_at}
              {purchase.first_at} {purchase.last_at} {purchase.count} {purchase.age_days} {purchase.data.order_id}
              | {resolution.occurred_at} {resolution.age_hours} {resolution.data.case_id} | {recent.count}
              {recent.first_at} {recent.last_at} {recent.release_at}
        """)
    events = (event("refund.requested", NOW - timedelta(days=3, hours=5), "r1", refund_id="R-9", reason="broken"),
              event("purchase.completed", NOW - timedelta(days=10), "p1", order_id="O-1", product_ids=[]),
              event("purchase.completed", NOW - timedelta(days=2), "p2", order_id="O-2", product_ids=[]),
              event("complaint.resolved", NOW - timedelta(hours=7), "c1", case_id="C-3"))
    history = (allowed(NOW - timedelta(days=5)), allowed(NOW - timedelta(days=1)))
    verdict = decide(evaluator, events=events, history=history)
    assert verdict.reasons[0].explanation == (
        "R-9 R-9 refund 2026-03-07T07:00:00Z 3 77 1 broken | p2 purchase.completed 2026-03-08T12:00:00Z "
        "2026-02-28T12:00:00Z 2026-03-08T12:00:00Z 2 2 O-2 | 2026-03-10T05:00:00Z 7 C-3 | 2 "
        "2026-03-05T12:00:00Z 2026-03-09T12:00:00Z 2026-03-12T12:00:00Z")
