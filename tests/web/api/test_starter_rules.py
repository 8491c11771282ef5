"""The starter rule pack through HTTP, at its boundaries. Every time is explicit: no test depends on today."""

from __future__ import annotations

from itertools import count

import pytest

from tests.conftest import event

_ids = count()


def given(api, customer_id: str, *events: tuple) -> None:
    """Post events given as (type, occurred_at, data) for a customer."""
    api.events(*[event(customer_id, t, at, f"{customer_id}-{next(_ids)}", **data) for t, at, data in events])


def decide(api, customer_id: str, send_at: str, purpose: str = "marketing", channel: str = "email", **extra):
    """The decision for one planned send."""
    return api.decide(customer_id=customer_id, channel=channel, purpose=purpose, send_at=send_at, **extra)


def winner(answer: dict) -> tuple:
    """(outcome, route, defer_until, winning rule id)."""
    rule = answer["reasons"][0]["rule_id"] if answer["reasons"] else None
    return answer["outcome"], answer["route"], answer["defer_until"], rule


ALLOW = ("allow", None, None, None)


# -- care-first ----------------------------------------------------------------------------------------------

def test_care_first_reroutes_marketing_during_an_open_complaint(api):
    given(api, "cf1", ("complaint.opened", "2026-03-01T10:00:00Z", {"case_id": "K-77"}))
    answer = decide(api, "cf1", "2026-03-05T11:00:00Z")
    assert winner(answer) == ("reroute", "care", None, "care-first")
    assert "K-77" in answer["reasons"][0]["explanation"]
    assert "4 days" in answer["reasons"][0]["explanation"]


@pytest.mark.parametrize(("since", "route"), [("2023-03-05", "care-priority"), ("2020-01-01", "care-priority"),
                                              ("2023-03-06", "care"), ("2025-01-01", "care")])
def test_care_first_sends_customers_of_three_years_or_more_to_senior_care(api, since, route):
    given(api, "cf2", ("profile.updated", "2026-01-01T00:00:00Z", {"customer_since": since}),
          ("complaint.opened", "2026-03-01T10:00:00Z", {"case_id": "K1"}))
    assert winner(decide(api, "cf2", "2026-03-05T11:00:00Z")) == ("reroute", route, None, "care-first")


def test_care_first_ends_with_the_resolution_and_returns_when_reopened(api):
    given(api, "cf3", ("complaint.opened", "2026-03-01T00:00:00Z", {"case_id": "K1"}),
          ("complaint.resolved", "2026-03-03T00:00:00Z", {"case_id": "K1"}),
          ("complaint.reopened", "2026-03-06T00:00:00Z", {"case_id": "K1"}))
    assert winner(decide(api, "cf3", "2026-03-02T00:00:00Z"))[0] == "reroute"
    assert winner(decide(api, "cf3", "2026-03-04T00:00:00Z")) == ALLOW
    reopened = decide(api, "cf3", "2026-03-08T00:00:00Z")
    assert winner(reopened) == ("reroute", "care", None, "care-first")
    assert "2 days" in reopened["reasons"][0]["explanation"]


def test_care_first_leaves_service_messages_alone(api):
    given(api, "cf4", ("complaint.opened", "2026-03-01T00:00:00Z", {"case_id": "K1"}))
    assert winner(decide(api, "cf4", "2026-03-02T00:00:00Z", purpose="service")) == ALLOW


def test_a_complaint_opened_after_send_at_is_ignored(api):
    given(api, "cf5", ("complaint.opened", "2026-03-10T00:00:00Z", {"case_id": "K1"}))
    assert winner(decide(api, "cf5", "2026-03-09T23:59:59Z")) == ALLOW


# -- no-survey-during-complaint ------------------------------------------------------------------------------

def test_no_survey_while_a_complaint_is_open(api):
    given(api, "ns1", ("complaint.opened", "2026-03-01T00:00:00Z", {"case_id": "K5"}))
    answer = decide(api, "ns1", "2026-03-02T00:00:00Z", purpose="survey")
    assert winner(answer) == ("block", None, None, "no-survey-during-complaint")
    assert "K5" in answer["reasons"][0]["explanation"]


@pytest.mark.parametrize(("send_at", "expected"), [
    ("2026-03-03T09:00:00Z", ("defer", None, "2026-03-06T09:00:00Z", "no-survey-during-complaint")),
    ("2026-03-06T08:59:59Z", ("defer", None, "2026-03-06T09:00:00Z", "no-survey-during-complaint")),
    ("2026-03-06T09:00:00Z", ALLOW),
    ("2026-03-10T00:00:00Z", ALLOW),
])
def test_a_survey_waits_until_three_days_after_the_resolution(api, send_at, expected):
    given(api, "ns2", ("complaint.opened", "2026-02-20T00:00:00Z", {"case_id": "K6"}),
          ("complaint.resolved", "2026-03-03T09:00:00Z", {"case_id": "K6"}))
    assert winner(decide(api, "ns2", send_at, purpose="survey")) == expected


def test_a_reopened_complaint_blocks_surveys_again(api):
    given(api, "ns3", ("complaint.opened", "2026-02-20T00:00:00Z", {"case_id": "K7"}),
          ("complaint.resolved", "2026-02-25T00:00:00Z", {"case_id": "K7"}),
          ("complaint.reopened", "2026-03-01T00:00:00Z", {"case_id": "K7"}))
    assert winner(decide(api, "ns3", "2026-03-02T00:00:00Z", purpose="survey"))[0] == "block"


# -- just-bought ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("send_at", "outcome"), [
    ("2026-03-31T10:00:00Z", "block"),  # exactly 30 days after the purchase
    ("2026-03-31T10:00:01Z", "allow"),
    ("2026-03-02T10:00:00Z", "block"),
    ("2026-03-01T09:59:59Z", "allow"),  # before the purchase
])
def test_just_bought_blocks_the_same_product_for_30_days(api, send_at, outcome):
    given(api, "jb1", ("purchase.completed", "2026-03-01T10:00:00Z", {"order_id": "O-9", "product_ids": ["P1", "P2"]}))
    answer = decide(api, "jb1", send_at, product_ids=["P2"])
    assert answer["outcome"] == outcome
    if outcome == "block":
        assert answer["reasons"][0]["rule_id"] == "just-bought"
        assert "O-9" in answer["reasons"][0]["explanation"]


def test_just_bought_allows_other_products(api):
    given(api, "jb2", ("purchase.completed", "2026-03-01T10:00:00Z", {"order_id": "O-1", "product_ids": ["P1"]}))
    assert winner(decide(api, "jb2", "2026-03-02T00:00:00Z", product_ids=["P2", "P3"])) == ALLOW
    assert winner(decide(api, "jb2", "2026-03-02T00:00:00Z")) == ALLOW
    assert decide(api, "jb2", "2026-03-02T00:00:00Z", product_ids=["P3", "P1"])["outcome"] == "block"


# -- refund-pending ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("send_at", "expected"), [
    ("2026-03-14T23:59:59Z", ("block", None, None, "refund-pending")),
    ("2026-03-15T00:00:00Z", ("reroute", "care", None, "refund-pending")),  # exactly 14 days
    ("2026-04-20T00:00:00Z", ("reroute", "care", None, "refund-pending")),
])
@pytest.mark.parametrize("purpose", ["marketing", "survey"])
def test_refund_pending_blocks_then_goes_to_care_after_14_days(api, send_at, expected, purpose):
    given(api, "rp1", ("refund.requested", "2026-03-01T00:00:00Z", {"refund_id": "R-5"}))
    answer = decide(api, "rp1", send_at, purpose=purpose)
    assert winner(answer) == expected
    assert "R-5" in answer["reasons"][0]["explanation"]


@pytest.mark.parametrize("closing", ["refund.completed", "refund.rejected"])
def test_a_settled_refund_no_longer_blocks(api, closing):
    given(api, "rp2", ("refund.requested", "2026-03-01T00:00:00Z", {"refund_id": "R-6"}),
          (closing, "2026-03-20T00:00:00Z", {"refund_id": "R-6"}))
    assert winner(decide(api, "rp2", "2026-03-21T00:00:00Z")) == ALLOW
    assert winner(decide(api, "rp2", "2026-03-19T00:00:00Z"))[0] == "reroute"


def test_refund_pending_leaves_service_messages_alone(api):
    given(api, "rp3", ("refund.requested", "2026-03-01T00:00:00Z", {"refund_id": "R-7"}))
    assert winner(decide(api, "rp3", "2026-03-02T00:00:00Z", purpose="service")) == ALLOW


# -- exempt-transactional ------------------------------------------------------------------------------------

@pytest.mark.parametrize("purpose", ["transactional", "legal"])
def test_transactional_and_legal_always_go(api, purpose):
    given(api, "ex1", ("complaint.opened", "2026-03-01T00:00:00Z", {"case_id": "K1"}),
          ("refund.requested", "2026-02-01T00:00:00Z", {"refund_id": "R1"}),
          ("consent.withdrawn", "2026-02-01T00:00:00Z", {"channel": "sms", "purpose": purpose}),
          ("profile.updated", "2026-01-01T00:00:00Z", {"timezone": "Europe/Paris"}))
    answer = decide(api, "ex1", "2026-03-02T23:00:00Z", purpose=purpose, channel="sms")
    assert winner(answer) == ("allow", None, None, "exempt-transactional")
    assert answer["reasons"][0]["outcome"] == "allow"
    assert purpose in answer["reasons"][0]["explanation"]


# -- consent -------------------------------------------------------------------------------------------------

def test_withdrawn_consent_blocks_marketing_and_surveys_on_that_channel(api):
    given(api, "co1", ("consent.withdrawn", "2026-03-01T00:00:00Z", {"channel": "email"}),
          ("consent.withdrawn", "2026-03-01T00:00:00Z", {"channel": "email", "purpose": "survey"}))
    for purpose in ("marketing", "survey"):
        answer = decide(api, "co1", "2026-03-02T12:00:00Z", purpose=purpose)
        assert winner(answer) == ("block", None, None, "consent")
        assert answer["reasons"][0]["explanation"] == f"The customer withdrew consent for {purpose} by email."
    assert winner(decide(api, "co1", "2026-03-02T12:00:00Z", channel="sms")) == ALLOW
    assert winner(decide(api, "co1", "2026-02-28T12:00:00Z")) == ALLOW


def test_consent_given_again_lifts_the_block_and_withdrawing_again_restores_it(api):
    given(api, "co2", ("consent.withdrawn", "2026-03-01T00:00:00Z", {"channel": "email"}),
          ("consent.given", "2026-03-05T00:00:00Z", {"channel": "email"}),
          ("consent.withdrawn", "2026-03-09T00:00:00Z", {"channel": "email"}))
    assert decide(api, "co2", "2026-03-04T00:00:00Z")["outcome"] == "block"
    assert decide(api, "co2", "2026-03-05T00:00:00Z")["outcome"] == "allow"
    assert decide(api, "co2", "2026-03-10T00:00:00Z")["outcome"] == "block"


def test_consent_is_per_purpose(api):
    given(api, "co3", ("consent.withdrawn", "2026-03-01T00:00:00Z", {"channel": "email", "purpose": "survey"}))
    assert decide(api, "co3", "2026-03-02T00:00:00Z", purpose="survey")["outcome"] == "block"
    assert decide(api, "co3", "2026-03-02T00:00:00Z", purpose="marketing")["outcome"] == "allow"


# -- frequency-cap -------------------------------------------------------------------------------------------

def test_the_fourth_marketing_message_in_seven_days_waits_for_the_oldest_to_age(api):
    for send_at in ("2026-03-01T12:00:00Z", "2026-03-04T12:00:00Z", "2026-03-06T12:00:00Z"):
        assert decide(api, "fc1", send_at)["outcome"] == "allow"
    answer = decide(api, "fc1", "2026-03-07T12:00:00Z")
    assert winner(answer) == ("defer", None, "2026-03-08T12:00:00Z", "frequency-cap")
    assert "3 marketing messages" in answer["reasons"][0]["explanation"]
    assert decide(api, "fc1", "2026-03-08T12:00:00Z")["outcome"] == "allow"


def test_a_decision_exactly_seven_days_old_no_longer_counts(api):
    for send_at in ("2026-03-01T12:00:00Z", "2026-03-04T12:00:00Z", "2026-03-06T12:00:00Z"):
        decide(api, "fc2", send_at)
    assert decide(api, "fc2", "2026-03-08T12:00:00Z")["outcome"] == "allow"
    assert decide(api, "fc2", "2026-03-08T11:59:59Z")["outcome"] == "defer"


def test_idempotent_retries_count_once(api):
    first = decide(api, "fc3", "2026-03-01T12:00:00Z", idempotency_key="fc3-a")
    for _ in range(3):
        assert decide(api, "fc3", "2026-03-01T12:00:00Z", idempotency_key="fc3-a") == first
    assert decide(api, "fc3", "2026-03-02T12:00:00Z")["outcome"] == "allow"
    assert decide(api, "fc3", "2026-03-03T12:00:00Z")["outcome"] == "allow"
    assert decide(api, "fc3", "2026-03-04T12:00:00Z")["outcome"] == "defer"


def test_only_allowed_marketing_decisions_count(api):
    given(api, "fc4", ("profile.updated", "2026-01-01T00:00:00Z", {"timezone": "UTC"}))
    decide(api, "fc4", "2026-03-01T12:00:00Z", purpose="service")
    decide(api, "fc4", "2026-03-01T23:00:00Z", channel="sms")  # deferred by quiet hours
    decide(api, "fc4", "2026-03-02T12:00:00Z", purpose="transactional")
    decide(api, "fc4", "2026-03-02T13:00:00Z")
    decide(api, "fc4", "2026-03-03T13:00:00Z")
    assert decide(api, "fc4", "2026-03-04T13:00:00Z")["outcome"] == "allow"
    assert decide(api, "fc4", "2026-03-05T13:00:00Z")["outcome"] == "defer"


def test_dry_runs_do_not_count(api):
    for day in (1, 2, 3):
        decide(api, "fc5", f"2026-03-0{day}T12:00:00Z", dry_run=True)
    assert decide(api, "fc5", "2026-03-04T12:00:00Z")["outcome"] == "allow"


# -- quiet-hours ---------------------------------------------------------------------------------------------

PARIS = [
    # winter time (UTC+1)
    ("2026-01-15T19:59:00Z", None),
    ("2026-01-15T20:00:00Z", "2026-01-16T07:00:00Z"),  # 21:00 local
    ("2026-01-16T06:59:00Z", "2026-01-16T07:00:00Z"),  # 07:59 local
    ("2026-01-16T07:00:00Z", None),  # 08:00 local
    # the night clocks go forward (2026-03-29 02:00 → 03:00)
    ("2026-03-28T19:59:00Z", None),
    ("2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"),  # 21:00 CET → 08:00 CEST
    ("2026-03-29T01:30:00Z", "2026-03-29T06:00:00Z"),  # 03:30 CEST
    ("2026-03-29T05:59:00Z", "2026-03-29T06:00:00Z"),  # 07:59 CEST
    ("2026-03-29T06:00:00Z", None),
    ("2026-03-29T18:59:00Z", None),  # 20:59 CEST
    ("2026-03-29T19:00:00Z", "2026-03-30T06:00:00Z"),  # 21:00 CEST
    # the night clocks go back (2026-10-25 03:00 → 02:00)
    ("2026-10-24T18:59:00Z", None),
    ("2026-10-24T19:00:00Z", "2026-10-25T07:00:00Z"),  # 21:00 CEST → 08:00 CET
    ("2026-10-25T00:30:00Z", "2026-10-25T07:00:00Z"),  # 02:30 CEST, the first one
    ("2026-10-25T01:30:00Z", "2026-10-25T07:00:00Z"),  # 02:30 CET, the second one
    ("2026-10-25T06:59:00Z", "2026-10-25T07:00:00Z"),  # 07:59 CET
    ("2026-10-25T07:00:00Z", None),
    ("2026-10-25T19:59:00Z", None),  # 20:59 CET
    ("2026-10-25T20:00:00Z", "2026-10-26T07:00:00Z"),  # 21:00 CET
]


@pytest.mark.parametrize(("send_at", "defer_until"), PARIS)
@pytest.mark.parametrize("channel", ["sms", "push", "phone"])
def test_quiet_hours_in_paris_across_daylight_saving_changes(api, send_at, defer_until, channel):
    given(api, "qh1", ("profile.updated", "2025-12-01T00:00:00Z", {"timezone": "Europe/Paris"}))
    answer = decide(api, "qh1", send_at, channel=channel)
    if defer_until is None:
        assert winner(answer) == ALLOW
    else:
        assert winner(answer) == ("defer", None, defer_until, "quiet-hours")
        assert "Europe/Paris" in answer["reasons"][0]["explanation"]


def test_quiet_hours_default_to_utc_and_cover_surveys(api):
    given(api, "qh2", ("page.viewed", "2026-01-01T00:00:00Z", {}))
    assert winner(decide(api, "qh2", "2026-03-02T21:00:00Z", channel="sms")) == (
        "defer", None, "2026-03-03T08:00:00Z", "quiet-hours")
    assert decide(api, "qh2", "2026-03-02T23:00:00Z", channel="push", purpose="survey")["outcome"] == "defer"
    assert decide(api, "qh2", "2026-03-02T20:59:00Z", channel="sms")["outcome"] == "allow"


@pytest.mark.parametrize(("channel", "purpose"), [("email", "marketing"), ("in_app", "marketing"),
                                                  ("sms", "service"), ("mail", "survey")])
def test_quiet_hours_only_hold_back_intrusive_channels_for_marketing_and_surveys(api, channel, purpose):
    assert decide(api, "qh3", "2026-03-02T23:30:00Z", channel=channel, purpose=purpose)["outcome"] == "allow"


def test_a_time_zone_change_applies_from_when_it_occurred(api):
    given(api, "qh4", ("profile.updated", "2026-03-01T00:00:00Z", {"timezone": "America/New_York"}),
          ("profile.updated", "2026-03-10T00:00:00Z", {"timezone": "Asia/Tokyo"}))
    # 02:00Z is 21:00 in New York (EST) and 11:00 in Tokyo.
    assert decide(api, "qh4", "2026-03-05T02:00:00Z", channel="sms")["defer_until"] == "2026-03-05T13:00:00Z"
    assert decide(api, "qh4", "2026-03-11T02:00:00Z", channel="sms")["outcome"] == "allow"


# -- combining -----------------------------------------------------------------------------------------------

def test_block_beats_reroute_beats_defer(api):
    given(api, "cb1", ("complaint.opened", "2026-03-01T00:00:00Z", {"case_id": "K1"}),
          ("profile.updated", "2026-01-01T00:00:00Z", {"timezone": "UTC"}))
    night = decide(api, "cb1", "2026-03-02T23:00:00Z", channel="sms")
    assert [r["rule_id"] for r in night["reasons"]] == ["care-first", "quiet-hours"]
    assert winner(night) == ("reroute", "care", None, "care-first")
    given(api, "cb1", ("consent.withdrawn", "2026-03-02T00:00:00Z", {"channel": "sms"}))
    blocked = decide(api, "cb1", "2026-03-02T23:00:00Z", channel="sms", campaign_id="x")
    assert [r["rule_id"] for r in blocked["reasons"]] == ["consent", "care-first", "quiet-hours"]
    assert winner(blocked) == ("block", None, None, "consent")
