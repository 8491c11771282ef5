"""GET /v1/customers/<id> and /timeline: the derived situation and the time-ordered history."""

from __future__ import annotations

import pytest

from tests.conftest import event
from tests.web.api.conftest import decision_body


@pytest.fixture
def history(api):
    api.events(
        event("c1", "profile.updated", "2025-01-01T00:00:00Z", customer_since="2020-05-01", timezone="Europe/Paris"),
        event("c1", "complaint.opened", "2026-03-01T12:00:00Z", case_id="K1"),
        event("c1", "refund.requested", "2026-02-20T12:00:00Z", refund_id="R1"),
        event("c1", "purchase.completed", "2026-02-25T00:00:00Z", order_id="O1", product_ids=["P1", "P2"]),
        event("c1", "purchase.completed", "2025-06-01T00:00:00Z", order_id="O0", product_ids=["P0"]),
        event("c1", "consent.withdrawn", "2026-02-01T00:00:00Z", channel="sms"),
        event("c1", "consent.withdrawn", "2026-02-02T00:00:00Z", channel="email", purpose="survey"),
        event("c1", "complaint.opened", "2026-03-10T00:00:00Z", case_id="K-later"),
    )


def test_the_situation_at_an_instant(api, history):
    response = api.get("/v1/customers/c1?at=2026-03-06T12:00:00%2B01:00")
    assert response.status_code == 200
    situation = response.get_json()
    assert situation["customer_id"] == "c1"
    assert situation["as_of"] == "2026-03-06T11:00:00Z"
    assert situation["open_complaints"] == [{"case_id": "K1", "opened_at": "2026-03-01T12:00:00Z",
                                             "reopened_at": None, "age_days": 4, "age_seconds": 4 * 86400 + 82800}]
    assert [(r["refund_id"], r["age_days"]) for r in situation["open_refunds"]] == [("R1", 13)]
    assert situation["recent_purchases"] == [{"order_id": "O1", "product_ids": ["P1", "P2"],
                                              "occurred_at": "2026-02-25T00:00:00Z", "age_days": 9,
                                              "age_seconds": 9 * 86400 + 11 * 3600}]
    assert situation["consent"] == [
        {"channel": "email", "purpose": "survey", "status": "withdrawn", "since": "2026-02-02T00:00:00Z"},
        {"channel": "sms", "purpose": "marketing", "status": "withdrawn", "since": "2026-02-01T00:00:00Z"},
    ]
    assert situation["profile"] == {"customer_since": "2020-05-01", "timezone": "Europe/Paris"}
    assert situation["event_count"] == 7


def test_the_situation_now_includes_every_event(api, history):
    situation = api.get("/v1/customers/c1").get_json()
    assert [c["case_id"] for c in situation["open_complaints"]] == ["K1", "K-later"]
    assert situation["event_count"] == 8


def test_an_unknown_customer_is_404(api):
    for path in ("/v1/customers/nobody", "/v1/customers/nobody/timeline"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"] == {"code": "not_found", "message": response.get_json()["error"]
                                                ["message"], "details": {"customer_id": "nobody"}}


def test_a_customer_known_only_from_decisions_is_found(api):
    api.decide(**decision_body("only-decided"))
    situation = api.get("/v1/customers/only-decided").get_json()
    assert situation["event_count"] == 0 and situation["open_complaints"] == []
    assert len(api.get("/v1/customers/only-decided/timeline").get_json()["items"]) == 1


@pytest.mark.parametrize("query", ["at=2026-03-06T12:00:00", "at=soon", "since=2026-03-06T12:00:00Z"])
def test_bad_situation_queries_are_422(api, history, query):
    response = api.get(f"/v1/customers/c1?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_failed"


def test_ids_with_special_characters(api):
    api.events(event("ünï cödé@x.y", "page.viewed", "2026-03-01T00:00:00Z"))
    assert api.get("/v1/customers/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9@x.y").status_code == 200


def test_the_timeline_interleaves_events_and_decisions_in_time_order(api):
    api.events(
        event("c1", "complaint.resolved", "2026-03-04T00:00:00Z", "t-3", case_id="K1"),
        event("c1", "complaint.opened", "2026-03-01T00:00:00Z", "t-1", case_id="K1"),
        event("c1", "purchase.completed", "2026-03-02T12:00:00Z", "t-2", order_id="O1"),
    )
    late = api.decide(**decision_body(send_at="2026-03-05T00:00:00Z"))
    early = api.decide(**decision_body(send_at="2026-03-02T00:00:00Z"))
    tie = api.decide(**decision_body(send_at="2026-03-04T00:00:00Z", purpose="survey"))
    api.events(event("c2", "complaint.opened", "2026-03-03T00:00:00Z", "other", case_id="K2"))
    body = api.get("/v1/customers/c1/timeline").get_json()
    assert body["customer_id"] == "c1"
    items = body["items"]
    assert [(i["kind"], i.get("event_id") or i["decision_id"]) for i in items] == [
        ("event", "t-1"), ("decision", early["decision_id"]), ("event", "t-2"), ("event", "t-3"),
        ("decision", tie["decision_id"]), ("decision", late["decision_id"])]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert items[1]["outcome"] == "reroute" and items[1]["route"] == "care"
    assert items[4]["outcome"] == "defer"
    assert items[0]["type"] == "complaint.opened" and items[0]["data"] == {"case_id": "K1"}


def test_the_timeline_limit_keeps_the_latest_items(api):
    api.events(*[event("c1", "page.viewed", f"2026-03-0{d}T00:00:00Z") for d in range(1, 6)])
    items = api.get("/v1/customers/c1/timeline?limit=2").get_json()["items"]
    assert [i["at"] for i in items] == ["2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "order=desc"])
def test_bad_timeline_queries_are_422(api, query):
    api.events(event("c1", "page.viewed", "2026-03-01T00:00:00Z"))
    assert api.get(f"/v1/customers/c1/timeline?{query}").status_code == 422


@pytest.mark.parametrize(("at", "events"), [("0001-01-01T00:00:00%2B01:00", 0), ("9999-12-31T23:59:59-01:00", 1),
                                            ("1136-07-31T19:31:42%2B21:29", 0)])
def test_the_situation_at_the_edges_of_the_calendar(api, at, events):
    api.events(event("c1", "page.viewed", "2026-03-01T00:00:00Z"))
    response = api.get(f"/v1/customers/c1?at={at}")
    assert response.status_code == 200
    assert response.get_json()["event_count"] == events


def test_ids_with_slashes(api):
    api.events(event("shop/42", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K1"))
    for path in ("/v1/customers/shop/42", "/v1/customers/shop%2F42"):
        assert api.get(path).get_json()["customer_id"] == "shop/42"
        timeline = api.get(f"{path}/timeline").get_json()
        assert timeline["customer_id"] == "shop/42" and len(timeline["items"]) == 1
