"""Backtest: numbers checked against a hand-computed history; nothing is written."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from guard.decisions.service import decide, decide_batch
from guard.lifecycle.backtest import run_backtest
from guard.lifecycle.jobs import get_job, start_job
from guard.policy.ast import RuleSource
from guard.policy.ruleset import build_evaluator
from guard.situation.events import ingest_batch
from guard.storage.tables.decisions import Decision
from tests.conftest import event

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)
NO_SPRING = """\
rules:
  - id: no-spring
    description: The spring campaign is withdrawn.
    priority: 10
    when:
      - message.purpose: marketing
      - message.campaign_id: spring
    outcome: block
    explanation: "Campaign {message.campaign_id} is withdrawn."
"""


def _send(guard, customer, purpose="marketing", campaign="spring", products=(), send_at="2026-03-10T12:00:00Z"):
    body = {"customer_id": customer, "channel": "email", "purpose": purpose, "campaign_id": campaign,
            "product_ids": list(products), "send_at": send_at}
    return decide(guard.db, guard.evaluator, body)["outcome"]


def _history(guard):
    ingest_batch(guard.db, [
        event("A", "complaint.opened", "2026-03-01T09:00:00Z", case_id="K-1"),
        event("B", "purchase.completed", "2026-03-05T09:00:00Z", order_id="O-1", product_ids=["P1"]),
    ])
    recorded = [
        _send(guard, "A"),                                   # reroute (care-first)
        _send(guard, "B", products=["P1"]),                  # block (just-bought)
        _send(guard, "B", products=["P2"]),                  # allow
        _send(guard, "C"),                                   # allow
        _send(guard, "C", purpose="survey", campaign="nps"),  # allow
        _send(guard, "A", purpose="survey", campaign="nps"),  # block (no-survey-during-complaint)
        _send(guard, "C", send_at="2026-04-02T12:00:00Z"),   # outside the period
    ]
    assert recorded == ["reroute", "block", "allow", "allow", "allow", "block", "allow"]


def test_backtest_counts_match_the_hand_computed_history(live_guard, starter_sources):
    _history(live_guard)
    candidate = build_evaluator([*starter_sources, RuleSource("spring.yaml", NO_SPRING)])
    with live_guard.db.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Decision))
    report = run_backtest(live_guard.db, candidate, MARCH, APRIL)
    with live_guard.db.sessions() as session:
        after = session.scalar(select(func.count()).select_from(Decision))
    candidate.close()

    assert before == after == 7  # nothing written
    assert (report["total"], report["changed"], report["unchanged"]) == (6, 3, 3)
    matrix = {(m["from"], m["to"]): m["count"] for m in report["matrix"]}
    assert matrix == {("allow", "allow"): 1, ("allow", "block"): 2, ("block", "block"): 2, ("reroute", "block"): 1}
    campaigns = {c["campaign_id"]: (c["total"], c["changed"]) for c in report["by_campaign"]}
    assert campaigns == {"spring": (4, 3), "nps": (2, 0)}
    rules = {r["rule_id"]: r for r in report["by_rule"]}
    assert rules["no-spring"]["matched_before"] == 0 and rules["no-spring"]["matched_after"] == 4
    assert rules["no-spring"]["changed_decisions"] == 3
    assert rules["care-first"]["matched_before"] == rules["care-first"]["matched_after"] == 1
    sample = next(s for s in report["samples"] if s["customer_id"] == "A")
    assert sample["before"]["outcome"] == "reroute" and "K-1" in sample["before"]["reasons"][0]["explanation"]
    assert sample["after"]["outcome"] == "block"
    assert sample["after"]["reasons"][0]["explanation"] == "Campaign spring is withdrawn."


def test_replaying_the_active_rules_changes_nothing_including_frequency_caps(live_guard):
    outcomes = [_send(live_guard, "D", send_at=f"2026-03-0{day}T12:00:00Z") for day in (2, 3, 4, 5, 6)]
    assert outcomes == ["allow", "allow", "allow", "defer", "defer"]
    report = run_backtest(live_guard.db, live_guard.evaluator, MARCH, APRIL)
    assert (report["total"], report["changed"], report["defer_changed"]) == (5, 0, 0)


def test_a_background_job_reports_progress_and_the_same_report(committed_guard, starter_sources):
    _history(committed_guard)
    candidate = build_evaluator([*starter_sources, RuleSource("spring.yaml", NO_SPRING)])
    job = start_job(committed_guard.db, candidate, MARCH, APRIL, {"since": "2026-03-01"}, close_candidate=True)
    assert job["status"] == "running" and job["total"] == 6
    deadline = time.monotonic() + 20
    while (state := get_job(committed_guard.db, job["job_id"]))["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state["status"] == "done", state
    assert state["done"] == 6 and state["progress"] == 1.0
    assert state["report"]["changed"] == 3


def test_requests_that_no_longer_validate_are_skipped_even_in_a_known_shape(live_guard):
    # Requests of one shape (one campaign) are validated once per shape, then per request only for customer,
    # key and send time: each of those still refuses what the schema refuses.
    for day in range(2, 8):
        _send(live_guard, f"S{day}", campaign="autumn", send_at=f"2026-03-0{day}T12:00:00Z")
    spoiled = {"S3": {"send_at": "2026-03-03T12:00:00"},    # naive: refused by the schema
               "S4": {"customer_id": ""},                     # not an id
               "S5": {"idempotency_key": "k" * 1000},          # too long
               "S6": {"surprise": 1}}                          # an unknown field: another shape, refused
    with live_guard.db.transaction() as session:
        for decision in session.scalars(select(Decision)):
            if decision.customer_id in spoiled:
                decision.request = {**decision.request, **spoiled[decision.customer_id]}
    report = run_backtest(live_guard.db, live_guard.evaluator, MARCH, APRIL)
    assert (report["total"], report["skipped"], report["changed"]) == (2, 4, 0)


def test_a_replay_over_two_processes_reports_exactly_what_one_process_does(live_guard, starter_sources):
    # More decisions than one chunk, so that each process replays chunks of its own; caps, cases and changes
    # depend on earlier decisions and events, which each process reads for its own chunks.
    ingest_batch(live_guard.db, [event(f"K{n}", "complaint.opened", "2026-03-01T09:00:00Z", case_id=f"K-{n}")
                                 for n in range(0, 300, 7)])
    requests = [{"customer_id": f"K{n % 300}", "channel": "email", "purpose": ("marketing", "survey")[n % 2],
                 "campaign_id": ("spring", "summer")[n % 3 == 0], "send_at": f"2026-03-{2 + n % 20:02d}T12:00:00Z"}
                for n in range(2600)]
    decide_batch(live_guard.db, live_guard.evaluator, requests)
    candidate = build_evaluator([*starter_sources, RuleSource("spring.yaml", NO_SPRING)])
    try:
        one = run_backtest(live_guard.db, candidate, MARCH, APRIL, samples=50)
        two = run_backtest(live_guard.db, candidate, MARCH, APRIL, samples=50, processes=2)
    finally:
        candidate.close()
    for report in (one, two):
        report.pop("seconds"), report.pop("decisions_per_second")
    assert one["total"] == 2600 and one["changed"] > 0 and len(one["samples"]) == 50
    assert two == one
