"""POST /v1/events: single events, batches, duplicates, conflicts and out-of-order arrival."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import event

OPENED = event("c1", "complaint.opened", "2026-03-01T10:00:00Z", "e-1", case_id="K1")


def test_a_new_event_is_201_created(api, count):
    before = count()["events"]
    response = api.post("/v1/events", json=OPENED)
    assert response.status_code == 201
    assert response.get_json() == {"event_id": "e-1", "status": "created"}
    assert count()["events"] == before + 1


def test_the_same_event_again_is_a_200_no_op(api, count):
    api.post("/v1/events", json=OPENED)
    before = count()
    response = api.post("/v1/events", json=OPENED)
    assert response.status_code == 200
    assert response.get_json() == {"event_id": "e-1", "status": "duplicate"}
    assert count() == before


def test_the_same_instant_in_another_offset_is_the_same_event(api):
    api.post("/v1/events", json=OPENED)
    again = {**OPENED, "occurred_at": "2026-03-01T11:00:00+01:00"}
    assert api.post("/v1/events", json=again).get_json()["status"] == "duplicate"


@pytest.mark.parametrize("change", [{"customer_id": "c2"}, {"type": "complaint.reopened"},
                                    {"occurred_at": "2026-03-01T10:00:01Z"}, {"data": {"case_id": "K2"}}])
def test_the_same_event_id_with_other_content_is_409(api, count, change):
    api.post("/v1/events", json=OPENED)
    before = count()
    response = api.post("/v1/events", json={**OPENED, **change})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "event_conflict"
    assert error["details"] == {"event_id": "e-1"}
    assert count() == before


@pytest.mark.parametrize(("body", "field"), [
    ({**OPENED, "data": {}}, "data"),
    ({**OPENED, "data": {"case_id": ""}}, "data"),
    ({**OPENED, "type": "refund.requested", "data": {"case_id": "K1"}}, "data"),
    ({**OPENED, "type": "purchase.completed", "data": {"order_id": "O1", "product_ids": "P1"}}, "data"),
    ({**OPENED, "type": "consent.withdrawn", "data": {"channel": "pigeon"}}, "data"),
    ({**OPENED, "type": "consent.given", "data": {"channel": "email", "purpose": "spam"}}, "data"),
    ({**OPENED, "type": "profile.updated", "data": {"timezone": "Europe/Atlantis"}}, "data"),
    ({**OPENED, "type": "profile.updated", "data": {"customer_since": "last year"}}, "data"),
    ({**OPENED, "type": "profile.updated", "data": {}}, "data"),
    ({**OPENED, "type": "Complaint Opened"}, "type"),
    ({**OPENED, "occurred_at": "2026-03-01T10:00:00"}, "occurred_at"),
    ({k: v for k, v in OPENED.items() if k != "occurred_at"}, "occurred_at"),
    ({k: v for k, v in OPENED.items() if k != "event_id"}, "event_id"),
    ({k: v for k, v in OPENED.items() if k != "customer_id"}, "customer_id"),
    ({**OPENED, "event_id": ""}, "event_id"),
    ({**OPENED, "data": [1]}, "data"),
    ({**OPENED, "source": "crm"}, "source"),
])
def test_invalid_events_are_422_with_field_details(api, count, body, field):
    before = count()
    response = api.post("/v1/events", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"], error
    assert count() == before


def test_data_errors_name_the_data_field(api):
    response = api.post("/v1/events", json={**OPENED, "type": "profile.updated", "data": {"timezone": "Mars/Base"}})
    assert response.get_json()["error"]["details"] == {"data": {"timezone": ["An IANA time zone name, e.g. "
                                                                             "Europe/Paris."]}}
    response = api.post("/v1/events", json={**OPENED, "data": {}})
    assert "case_id" in response.get_json()["error"]["details"]["data"]


def test_unknown_types_are_stored(api):
    response = api.post("/v1/events", json=event("c1", "newsletter.clicked", "2026-03-01T00:00:00Z", link="x"))
    assert response.status_code == 201
    assert response.get_json()["warnings"]  # said so: see tests/web/api/test_event_limits.py


@pytest.mark.parametrize("body", ["[]", "null", '"e-1"', "[{}]"])
def test_a_body_that_is_not_an_object_is_422(api, body):
    response = api.post("/v1/events", data=body, content_type="application/json")
    assert response.status_code == 422


# -- batches -------------------------------------------------------------------------------------------------

def test_a_batch_stores_the_good_events_and_reports_each_bad_one(api, count):
    api.post("/v1/events", json=OPENED)
    before = count()["events"]
    batch = [
        event("c1", "purchase.completed", "2026-03-01T00:00:00Z", "e-2", order_id="O1", product_ids=["P1"]),
        {**OPENED, "type": "complaint.resolved"},  # e-1 again with other content
        event("c1", "complaint.opened", "2026-03-01T00:00:00Z", "e-3"),  # no case_id
        OPENED,  # an identical repeat
        event("c2", "consent.withdrawn", "2026-03-01T00:00:00Z", "e-4", channel="sms"),
        "not an event",
    ]
    response = api.post("/v1/events", json={"events": batch})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["created"], body["duplicates"], body["errors"]) == (2, 1, 3)
    results = body["results"]
    assert [(r["index"], r["event_id"], r["status"]) for r in results] == [
        (0, "e-2", "created"), (1, "e-1", "error"), (2, "e-3", "error"), (3, "e-1", "duplicate"),
        (4, "e-4", "created"), (5, None, "error")]
    assert results[1]["error"]["code"] == "event_conflict"
    assert results[2]["error"]["code"] == "validation_failed"
    assert "case_id" in results[2]["error"]["details"]["data"]
    assert "error" not in results[0]
    assert count()["events"] == before + 2


def test_a_batch_repeating_an_id_within_itself(api):
    same = event("c1", "complaint.opened", "2026-03-01T00:00:00Z", "e-9", case_id="K9")
    other = {**same, "data": {"case_id": "K10"}}
    body = api.post("/v1/events", json={"events": [same, same, other]}).get_json()
    assert [r["status"] for r in body["results"]] == ["created", "duplicate", "error"]


def test_a_batch_of_1000_is_accepted(api, count):
    before = count()["events"]
    events = [event("bulk", "page.viewed", "2026-03-01T00:00:00Z", f"b-{i}") for i in range(1000)]
    body = api.post("/v1/events", json={"events": events}).get_json()
    assert body["created"] == 1000
    assert count()["events"] == before + 1000


@pytest.mark.parametrize("events", [[], [{}] * 1001, "e-1", None])
def test_a_batch_of_0_or_more_than_1000_is_422(api, count, events):
    before = count()
    response = api.post("/v1/events", json={"events": events})
    assert response.status_code == 422
    assert "events" in response.get_json()["error"]["details"]
    assert count() == before


def test_a_batch_with_other_keys_is_422(api):
    response = api.post("/v1/events", json={"events": [OPENED], "source": "crm"})
    assert response.status_code == 422
    assert "source" in response.get_json()["error"]["details"]


# -- order ---------------------------------------------------------------------------------------------------

HISTORY = [
    event("c1", "complaint.opened", "2026-03-01T10:00:00Z", "h-1", case_id="K1"),
    event("c1", "complaint.resolved", "2026-03-03T10:00:00Z", "h-2", case_id="K1"),
    event("c1", "complaint.reopened", "2026-03-05T10:00:00Z", "h-3", case_id="K1"),
    event("c1", "consent.withdrawn", "2026-03-02T10:00:00Z", "h-4", channel="email"),
    event("c1", "consent.given", "2026-03-04T10:00:00Z", "h-5", channel="email"),
    event("c1", "refund.requested", "2026-03-01T00:00:00Z", "h-6", refund_id="R1"),
    event("c1", "refund.completed", "2026-03-02T00:00:00Z", "h-7", refund_id="R1"),
]


def _situation(api):
    return api.get("/v1/customers/c1?at=2026-03-06T10:00:00Z").get_json()


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0], [2, 4, 0, 6, 1, 3, 5]])
def test_arrival_order_does_not_change_the_situation(api, order):
    for index in order:
        assert api.post("/v1/events", json=HISTORY[index]).status_code == 201
    situation = _situation(api)
    assert [c["case_id"] for c in situation["open_complaints"]] == ["K1"]
    assert situation["open_complaints"][0]["opened_at"] == "2026-03-05T10:00:00Z"
    assert situation["open_complaints"][0]["reopened_at"] == "2026-03-05T10:00:00Z"
    assert situation["open_refunds"] == []
    assert situation["consent"] == [{"channel": "email", "purpose": "marketing", "status": "given",
                                     "since": "2026-03-04T10:00:00Z"}]
    decision = api.decide(customer_id="c1", channel="email", purpose="marketing", send_at="2026-03-06T10:00:00Z")
    assert (decision["outcome"], decision["route"]) == ("reroute", "care")


def _readme_example(marker: str) -> tuple[dict, dict]:
    """The request body and the answer of the README's curl example that contains `marker`."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = next(b for b in readme.split("```console")[1:] if marker in b.split("```")[0]).split("```")[0]
    body = block.split("-d '", 1)[1].split("'\n", 1)[0]
    answer = block.strip().splitlines()[-1]
    return json.loads(body), json.loads(answer)


def test_a_batch_is_a_partial_success_as_the_readme_shows(api, count):
    body, documented = _readme_example('"pay-57"')
    before = count()["events"]
    response = api.post("/v1/events", json=body)
    assert response.status_code == 200
    assert response.get_json() == documented  # the README's answer, word for word
    assert documented["errors"] == 1 and count()["events"] == before + 1


@pytest.mark.parametrize("field, value", [("occurred_at", "04/03/2026 10:00"), ("occurred_at", "yesterday"),
                                          ("occurred_at", "2026-03-04T10:00:00")])
def test_every_time_error_shows_the_expected_form(api, field, value):
    response = api.post("/v1/events", json={**OPENED, field: value})
    assert response.status_code == 422
    message = response.get_json()["error"]["details"][field][0]
    assert "2026-03-01T10:00:00Z" in message, message  # an example of the form Guard takes
