"""The overview's aggregates, computed by the database (SQLite and PostgreSQL bucket alike)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from guard.decisions import stats
from guard.decisions.projector import catch_up
from guard.storage.database import Database
from guard.storage.tables.decisions import Decision

NOW = datetime(2026, 3, 10, 14, 25, tzinfo=UTC)


def record(db: Database, at: datetime, outcome: str, rule: str | None = None, campaign: str | None = None) -> None:
    """One recorded decision, decided at `at`, won by `rule`."""
    with db.transaction() as session:
        decision = Decision(
            decision_id=str(uuid.uuid4()), customer_id="c-1", campaign_id=campaign, channel="email",
            purpose="marketing", send_at=at, outcome=outcome, route="care" if outcome == "reroute" else None,
            defer_until=None, rules_version="1", evaluated_at=at, idempotency_key=None, request_hash="-",
            request={}, facts={}, api_key_name="t",
        )
        if rule:
            decision.matched = [{"rule_id": rule, "outcome": outcome, "explanation": "x"},
                                {"rule_id": "also-matched", "outcome": "allow", "explanation": "y"}]
        session.add(decision)
    catch_up(db)  # the overview counts what the projector has indexed


def test_a_window_ends_with_the_current_bucket():
    day = stats.window("24h", NOW)
    assert (day.since, day.until, day.unit) == (datetime(2026, 3, 9, 15, tzinfo=UTC),
                                                datetime(2026, 3, 10, 15, tzinfo=UTC), "hour")
    assert len(day.buckets) == 24
    month = stats.window("30d", NOW)
    assert month.until == datetime(2026, 3, 11, tzinfo=UTC)
    assert len(month.buckets) == 30 and month.buckets[0] == datetime(2026, 2, 9, tzinfo=UTC)


def test_outcomes_are_counted_per_hour_and_per_day(db: Database):
    record(db, NOW - timedelta(minutes=5), "block", "just-bought")          # this hour
    record(db, NOW - timedelta(minutes=20), "allow")                        # this hour, 14:05
    record(db, NOW - timedelta(hours=1, minutes=30), "block", "consent")    # 12:55
    record(db, NOW - timedelta(hours=30), "reroute", "care-first")          # yesterday: outside 24 h
    record(db, NOW + timedelta(hours=2), "block", "consent")                # a later hour, the same day
    with db.sessions() as session:
        day = stats.window("24h", NOW)
        outcomes = stats.outcomes_over_time(session, day)
        week = stats.outcomes_over_time(session, stats.window("7d", NOW))
    assert set(outcomes) == {"allow", "block"}
    assert outcomes["block"][-1] == 1 and outcomes["block"][-3] == 1 and sum(outcomes["block"]) == 2
    assert outcomes["allow"][-1] == 1
    assert week["block"][-1] == 3 and week["reroute"][-2] == 1 and week["allow"][-1] == 1


def test_rules_count_the_winning_rule_only(db: Database):
    record(db, NOW - timedelta(hours=2), "block", "consent")
    record(db, NOW - timedelta(hours=2), "block", "consent")
    record(db, NOW - timedelta(hours=3), "reroute", "care-first")
    record(db, NOW - timedelta(hours=3), "allow")
    with db.sessions() as session:
        rules = stats.rules_over_time(session, stats.window("24h", NOW))
    assert set(rules) == {"consent", "care-first"}  # "also-matched" never won; no-rule decisions are left out
    assert sum(rules["consent"]) == 2 and rules["consent"][-3] == 2
    assert sum(rules["care-first"]) == 1


def test_top_campaigns_rank_blocked_and_rerouted_sends(db: Database):
    at = NOW - timedelta(hours=1)
    for outcome in ("block", "block", "reroute", "allow"):
        record(db, at, outcome, "r", campaign="spring")
    for outcome in ("reroute", "allow", "allow"):
        record(db, at, outcome, "r", campaign="newsletter")
    record(db, at, "block", "r")            # no campaign
    record(db, at, "allow", campaign="quiet")
    record(db, NOW - timedelta(days=3), "block", "r", campaign="old")
    with db.sessions() as session:
        top = stats.top_campaigns(session, stats.window("24h", NOW))
        overview = stats.overview(session, "24h", NOW)
    assert top == [
        {"campaign_id": "spring", "campaign": "spring", "blocked": 2, "rerouted": 1, "total": 4},
        {"campaign_id": "newsletter", "campaign": "newsletter", "blocked": 0, "rerouted": 1, "total": 3},
        {"campaign_id": "(none)", "campaign": None, "blocked": 1, "rerouted": 0, "total": 1},
    ]
    assert overview["totals"] == {"allow": 4, "block": 3, "reroute": 2}
    assert overview["campaigns"] == top


def test_an_empty_log_gives_empty_series(db: Database):
    with db.sessions() as session:
        overview = stats.overview(session, "30d", NOW)
    assert overview["outcomes"] == {} and overview["rules"] == {} and overview["campaigns"] == []
    assert len(overview["buckets"]) == 30
