"""Deriving a customer's situation from events: order, instant, cases, consent, profile, repeats."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.situation.derive import EventRecord, Situation, derive, state_bearing

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ev(event_id: str, type_: str, at: datetime | int, **data: Any) -> EventRecord:
    """An event `at` an instant, or `at` hours after T0."""
    when = at if isinstance(at, datetime) else T0 + timedelta(hours=at)
    return EventRecord(event_id, type_, when, data)


def summary(situation: Situation) -> dict[str, Any]:
    return {
        "events": [e.event_id for e in situation.events],
        "open": {kind: [(c.id, c.opened_at, c.reopened_at) for c in cases]
                 for kind, cases in situation.open_cases.items() if cases},
        "consent": dict(situation.consent),
        "customer_since": situation.customer_since,
        "timezone": situation.timezone,
    }


# -- order --------------------------------------------------------------------------------------------

HISTORY = [
    ev("e01", "complaint.opened", 0, case_id="C-1"),
    ev("e02", "refund.requested", 1, refund_id="R-1"),
    ev("e03", "consent.withdrawn", 2, channel="email"),
    ev("e04", "profile.updated", 3, timezone="Europe/Paris", customer_since="2022-05-01"),
    ev("e05", "complaint.resolved", 4, case_id="C-1"),
    ev("e06", "consent.given", 5, channel="email"),
    ev("e07", "complaint.reopened", 6, case_id="C-1"),
    ev("e08", "refund.rejected", 7, refund_id="R-1"),
    ev("e09", "profile.updated", 8, timezone="America/New_York"),
    ev("e10", "complaint.opened", 8, case_id="C-2"),  # same instant as e09: ordered by event id
    ev("e11", "complaint.resolved", 8, case_id="C-2"),
    ev("e12", "consent.withdrawn", 9, channel="sms", purpose="survey"),
]


@settings(max_examples=200, deadline=None)
@given(st.permutations(HISTORY))
def test_out_of_order_events_give_the_same_situation(shuffled: list[EventRecord]) -> None:
    at = T0 + timedelta(days=1)
    assert summary(derive(shuffled, at)) == summary(derive(HISTORY, at))


def test_in_order_history_folds_as_expected() -> None:
    situation = derive(HISTORY, T0 + timedelta(days=1))
    assert summary(situation) == {
        "events": [e.event_id for e in HISTORY],
        "open": {"complaint": [("C-1", T0 + timedelta(hours=6), T0 + timedelta(hours=6))]},
        "consent": {("email", "marketing"): ("given", T0 + timedelta(hours=5)),
                    ("sms", "survey"): ("withdrawn", T0 + timedelta(hours=9))},
        "customer_since": date(2022, 5, 1),
        "timezone": "America/New_York",
    }


def test_events_at_the_same_instant_apply_in_event_id_order_whatever_the_arrival() -> None:
    opened, resolved = ev("a", "complaint.opened", 0, case_id="C"), ev("b", "complaint.resolved", 0, case_id="C")
    assert derive([resolved, opened], T0).cases("complaint") == []
    assert derive([opened, resolved], T0).cases("complaint") == []


# -- the instant --------------------------------------------------------------------------------------

def test_events_after_the_instant_are_ignored() -> None:
    events = [ev("e1", "complaint.opened", 0, case_id="C-1"), ev("e2", "complaint.resolved", 5, case_id="C-1"),
              ev("e3", "profile.updated", 6, timezone="Asia/Tokyo")]
    before = derive(events, T0 + timedelta(hours=5) - timedelta(microseconds=1))
    assert [c.id for c in before.cases("complaint")] == ["C-1"]
    assert before.timezone is None
    assert [e.event_id for e in before.events] == ["e1"]
    at_resolution = derive(events, T0 + timedelta(hours=5))  # an event exactly at the instant counts
    assert at_resolution.cases("complaint") == []
    assert derive(events, T0 - timedelta(seconds=1)).events == []


# -- cases --------------------------------------------------------------------------------------------

def test_complaint_opened_resolved_reopened() -> None:
    events = [ev("e1", "complaint.opened", 0, case_id="C-1", channel="phone"),
              ev("e2", "complaint.resolved", 24, case_id="C-1"),
              ev("e3", "complaint.reopened", 48, case_id="C-1")]
    assert [c.id for c in derive(events, T0 + timedelta(hours=1)).cases("complaint")] == ["C-1"]
    assert derive(events, T0 + timedelta(hours=30)).cases("complaint") == []
    [case] = derive(events, T0 + timedelta(hours=50)).cases("complaint")
    # A reopened case is open again, and its age restarts at the reopening.
    assert (case.id, case.opened_at, case.reopened_at) == ("C-1", T0 + timedelta(hours=48), T0 + timedelta(hours=48))
    assert case.data == {"case_id": "C-1"}


def test_a_second_open_of_an_open_case_keeps_its_first_opening() -> None:
    events = [ev("e1", "complaint.opened", 0, case_id="C-1"), ev("e2", "complaint.reopened", 5, case_id="C-1"),
              ev("e3", "complaint.opened", 6, case_id="C-1")]
    [case] = derive(events, T0 + timedelta(hours=7)).cases("complaint")
    assert (case.opened_at, case.reopened_at) == (T0, None)


def test_open_cases_are_listed_oldest_first_per_kind() -> None:
    events = [ev("e1", "complaint.opened", 5, case_id="B"), ev("e2", "complaint.opened", 1, case_id="A"),
              ev("e3", "refund.requested", 3, refund_id="R")]
    situation = derive(events, T0 + timedelta(days=1))
    assert [c.id for c in situation.cases("complaint")] == ["A", "B"]
    assert [c.id for c in situation.cases("refund")] == ["R"]


def test_a_resolution_of_an_unknown_case_changes_nothing() -> None:
    events = [ev("e1", "complaint.opened", 0, case_id="A"), ev("e2", "complaint.resolved", 1, case_id="B")]
    assert [c.id for c in derive(events, T0 + timedelta(hours=2)).cases("complaint")] == ["A"]


def test_refund_requested_then_completed_or_rejected() -> None:
    events = [ev("e1", "refund.requested", 0, refund_id="R-1"), ev("e2", "refund.requested", 0, refund_id="R-2"),
              ev("e3", "refund.completed", 10, refund_id="R-1"), ev("e4", "refund.rejected", 20, refund_id="R-2")]
    assert [c.id for c in derive(events, T0 + timedelta(hours=5)).cases("refund")] == ["R-1", "R-2"]
    assert [c.id for c in derive(events, T0 + timedelta(hours=15)).cases("refund")] == ["R-2"]
    assert derive(events, T0 + timedelta(hours=20)).cases("refund") == []


def test_a_refund_and_a_complaint_with_the_same_id_are_different_cases() -> None:
    events = [ev("e1", "refund.requested", 0, refund_id="X"), ev("e2", "complaint.opened", 0, case_id="X"),
              ev("e3", "complaint.resolved", 1, case_id="X")]
    situation = derive(events, T0 + timedelta(hours=2))
    assert [c.id for c in situation.cases("refund")] == ["X"]
    assert situation.cases("complaint") == []


# -- consent ------------------------------------------------------------------------------------------

def test_consent_withdrawn_then_given_again_per_channel_and_purpose() -> None:
    events = [
        ev("e1", "consent.withdrawn", 0, channel="email"),  # purpose defaults to marketing
        ev("e2", "consent.withdrawn", 1, channel="email", purpose="survey"),
        ev("e3", "consent.withdrawn", 2, channel="sms"),
        ev("e4", "consent.given", 3, channel="email", purpose="marketing"),
    ]
    situation = derive(events, T0 + timedelta(hours=4))
    assert situation.consent_status("email", "marketing") == "given"
    assert situation.consent_status("email", "survey") == "withdrawn"
    assert situation.consent_status("sms", "marketing") == "withdrawn"
    assert situation.consent_status("sms", "survey") == "unknown"
    assert situation.consent_status("push", "marketing") == "unknown"
    before = derive(events, T0 + timedelta(hours=2, minutes=30))
    assert before.consent_status("email", "marketing") == "withdrawn"


def test_consent_given_then_withdrawn_again() -> None:
    events = [ev("e1", "consent.given", 0, channel="push"), ev("e2", "consent.withdrawn", 1, channel="push")]
    situation = derive(events, T0 + timedelta(hours=1))
    assert situation.consent[("push", "marketing")] == ("withdrawn", T0 + timedelta(hours=1))


def test_the_latest_consent_event_wins_even_when_it_arrived_first() -> None:
    given_later = ev("e2", "consent.given", 10, channel="email")
    withdrawn_earlier = ev("e1", "consent.withdrawn", 5, channel="email")
    assert derive([given_later, withdrawn_earlier], T0 + timedelta(days=1)).consent_status("email", "marketing") \
        == "given"


# -- profile ------------------------------------------------------------------------------------------

def test_profile_timezone_and_customer_since() -> None:
    events = [ev("e1", "profile.updated", 0, customer_since="2020-06-30", timezone="Europe/Paris"),
              ev("e2", "profile.updated", 1, timezone="Asia/Kolkata"),
              ev("e3", "profile.updated", 2, customer_since="2019-01-15T00:00:00Z")]
    assert (derive(events, T0).customer_since, derive(events, T0).timezone) == (date(2020, 6, 30), "Europe/Paris")
    later = derive(events, T0 + timedelta(hours=3))
    assert (later.customer_since, later.timezone) == (date(2019, 1, 15), "Asia/Kolkata")
    assert (derive([], T0).customer_since, derive([], T0).timezone) == (None, None)


# -- repeats ------------------------------------------------------------------------------------------

def test_a_duplicate_event_id_counts_once() -> None:
    purchase = ev("p1", "purchase.completed", 0, order_id="O-1", product_ids=["P-1"])
    opened = ev("e2", "complaint.opened", 1, case_id="C")
    events = [purchase, purchase, opened, ev("e2", "complaint.opened", 1, case_id="C")]
    situation = derive(events, T0 + timedelta(hours=2))
    assert [e.event_id for e in situation.events] == ["p1", "e2"]
    assert len(situation.cases("complaint")) == 1


def test_a_duplicate_event_id_keeps_the_first_given() -> None:
    first = ev("x", "consent.withdrawn", 0, channel="email")
    clash = ev("x", "consent.given", 1, channel="email")
    assert derive([first, clash], T0 + timedelta(hours=2)).consent_status("email", "marketing") == "withdrawn"


# -- what a purge keeps ------------------------------------------------------------------------------

def _state(situation: Situation) -> dict[str, Any]:
    return {k: v for k, v in summary(situation).items() if k != "events"}


_TYPES = ["complaint.opened", "complaint.resolved", "complaint.reopened", "refund.requested", "refund.completed",
          "consent.withdrawn", "consent.given", "profile.updated", "purchase.completed"]


@st.composite
def _history(draw: Any) -> list[tuple[EventRecord, bool]]:
    out = []
    for n in range(draw(st.integers(0, 14))):
        type_ = draw(st.sampled_from(_TYPES))
        data = {"case_id": draw(st.sampled_from("12")), "refund_id": draw(st.sampled_from("12")),
                "channel": draw(st.sampled_from(["email", "sms"]))}
        if type_ == "profile.updated":
            data = draw(st.sampled_from([{"timezone": "Europe/Paris"}, {"timezone": "Asia/Tokyo"},
                                         {"customer_since": "2020-01-01"}, {"customer_since": "2021-01-01"}]))
        out.append((ev(f"e{n:02}", type_, draw(st.integers(0, 20)), **data), draw(st.booleans())))
    return out


@settings(max_examples=300, deadline=None)
@given(_history(), st.integers(0, 30))
def test_purging_all_but_the_state_bearing_events_changes_no_situation_from_then_on(
        history: list[tuple[EventRecord, bool]], since_hours: int) -> None:
    events = [e for e, _ in history]
    since = T0 + timedelta(hours=since_hours)
    kept = state_bearing(events, since, {e.event_id for e, purged in history if not purged})
    left = [e for e, purged in history if not purged or e.event_id in kept]
    at = max([since, *(e.occurred_at for e in events)])
    assert _state(derive(left, at)) == _state(derive(events, at))


def test_state_bearing_events_of_one_customer() -> None:
    at = datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    events = [EventRecord("a", "complaint.opened", at - timedelta(days=50), {"case_id": "1"}),
              EventRecord("b", "complaint.opened", at - timedelta(days=60), {"case_id": "2"}),
              EventRecord("c", "complaint.resolved", at - timedelta(days=30), {"case_id": "2"}),
              EventRecord("d", "page.viewed", at - timedelta(days=20), {}),
              EventRecord("e", "page.viewed", at - timedelta(days=1), {})]
    # a: its case is open; c: the latest resolution, so its case whole (b); e: recent; d is history.
    assert state_bearing(events, at - timedelta(days=10)) == {"a", "b", "c", "e"}
    # An event staying anyway keeps its case whole too; other events of the case are not up for removal.
    assert state_bearing(events[:2], at, staying={"b"}) == {"a", "b"}
