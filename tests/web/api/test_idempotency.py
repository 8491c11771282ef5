"""Idempotency keys belong to the API key that sends them; the standard `Idempotency-Key` header is honoured."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from guard.core.schemas import MAX_ID
from guard.storage.tables import Decision, Event
from tests.conftest import event
from tests.web.api.conftest import Api, decision_body

HEADER = "Idempotency-Key"


@pytest.fixture
def crm(app, make_key) -> Api:
    """A second integrator with its own key."""
    return Api(app, make_key("decide", "events", "read", name="crm"))


def _decisions(guard, key: str) -> list[tuple[str, str | None]]:
    with guard.db.sessions() as session:
        return list(session.execute(select(Decision.decision_id, Decision.api_key_name)
                                    .where(Decision.idempotency_key == key).order_by(Decision.id)).all())


def test_another_api_key_with_the_same_idempotency_key_is_another_request(api, crm, guard):
    mine = api.decide(**decision_body(idempotency_key="k-1"))
    theirs = crm.decide(**decision_body(idempotency_key="k-1"))
    # Not the first caller's answer (its decision id, reasons and case ids): a decision of its own.
    assert theirs["decision_id"] != mine["decision_id"]
    assert [name for _, name in _decisions(guard, "k-1")] == ["test-admin", "crm"]
    # Each caller's retries replay its own decision.
    assert api.decide(**decision_body(idempotency_key="k-1")) == mine
    assert crm.decide(**decision_body(idempotency_key="k-1")) == theirs


def test_a_different_body_under_another_keys_idempotency_key_is_no_conflict(api, crm, guard):
    mine = api.decide(**decision_body(idempotency_key="k-2"))
    response = crm.post("/v1/decisions", json=decision_body("c9", idempotency_key="k-2", channel="sms"))
    assert response.status_code == 200, response.get_json()
    assert mine["decision_id"] not in response.get_data(as_text=True)
    # Within one API key a different body is still a conflict, naming that key's own decision.
    clash = crm.post("/v1/decisions", json=decision_body(idempotency_key="k-2"))
    assert clash.status_code == 409
    assert clash.get_json()["error"]["details"]["decision_id"] == response.get_json()["decision_id"]


def test_batches_scope_idempotency_keys_per_api_key_too(api, crm):
    mine = api.decide(**decision_body(idempotency_key="k-3"))
    body = {"requests": [decision_body(idempotency_key="k-3"), decision_body("c2", idempotency_key="k-3")]}
    first, second = crm.post("/v1/decisions/batch", json=body).get_json()["results"]
    assert first["decision_id"] != mine["decision_id"]
    assert second["error"]["code"] == "idempotency_conflict"
    again = api.post("/v1/decisions/batch", json={"requests": [decision_body(idempotency_key="k-3")]})
    assert again.get_json()["results"][0]["decision_id"] == mine["decision_id"]


# -- the Idempotency-Key header ------------------------------------------------------------------------------

def test_the_header_makes_a_retry_replay_the_first_decision(api, count):
    first = api.post("/v1/decisions", json=decision_body(), headers={HEADER: "h-1"})
    assert first.status_code == 200
    before = count()
    again = api.post("/v1/decisions", json=decision_body(), headers={HEADER: "h-1"})
    assert again.get_json() == first.get_json()
    assert count() == before
    record = api.get(f"/v1/decisions/{first.get_json()['decision_id']}").get_json()
    assert record["idempotency_key"] == "h-1"


def test_the_header_and_the_body_field_are_one_key(api):
    first = api.post("/v1/decisions", json=decision_body(), headers={HEADER: "h-2"}).get_json()
    assert api.decide(**decision_body(idempotency_key="h-2")) == first
    both = api.post("/v1/decisions", json=decision_body(idempotency_key="h-2"), headers={HEADER: "h-2"})
    assert both.get_json() == first
    changed = api.post("/v1/decisions", json=decision_body(channel="sms"), headers={HEADER: "h-2"})
    assert changed.status_code == 409


def test_the_header_and_a_different_body_field_is_422(api, count):
    before = count()
    response = api.post("/v1/decisions", json=decision_body(idempotency_key="body"), headers={HEADER: "header"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["details"]) == {"idempotency_key", HEADER}
    assert count() == before


@pytest.mark.parametrize("value", ["", "k" * (MAX_ID + 1), "tab\there", "caf\u00e9"])
def test_a_bad_header_is_422(api, count, value):
    before = count()
    response = api.post("/v1/decisions", json=decision_body(), headers={HEADER: value})
    assert response.status_code == 422
    assert HEADER in response.get_json()["error"]["details"]
    assert count() == before


def test_the_header_is_per_api_key_too(api, crm):
    mine = api.post("/v1/decisions", json=decision_body(), headers={HEADER: "h-3"}).get_json()
    theirs = crm.post("/v1/decisions", json=decision_body(), headers={HEADER: "h-3"}).get_json()
    assert theirs["decision_id"] != mine["decision_id"]


def test_batches_and_streams_refuse_the_header(api, count):
    before = count()
    batch = api.post("/v1/decisions/batch", json={"requests": [decision_body()]}, headers={HEADER: "b-1"})
    assert batch.status_code == 422
    assert HEADER in batch.get_json()["error"]["details"]
    stream = api.post("/v1/decisions/stream", data='{"customer_id": "c1", "channel": "email", "purpose": "service"}\n',
                      content_type="application/x-ndjson", headers={HEADER: "s-1"})
    assert stream.status_code == 422
    assert count() == before


# -- events: the header is a single event's event_id ---------------------------------------------------------

def _without_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "event_id"}


def test_a_single_events_header_is_its_event_id(api, guard, count):
    opened = event("c1", "complaint.opened", "2026-03-01T10:00:00Z", case_id="K1")
    response = api.post("/v1/events", json=_without_id(opened), headers={HEADER: "helpdesk-77"})
    assert response.status_code == 201
    assert response.get_json() == {"event_id": "helpdesk-77", "status": "created"}
    before = count()
    again = api.post("/v1/events", json=_without_id(opened), headers={HEADER: "helpdesk-77"})
    assert (again.status_code, again.get_json()["status"]) == (200, "duplicate")
    assert api.post("/v1/events", json={**opened, "event_id": "helpdesk-77"}).get_json()["status"] == "duplicate"
    assert count() == before
    with guard.db.sessions() as session:
        assert session.scalar(select(Event.customer_id).where(Event.event_id == "helpdesk-77")) == "c1"


def test_an_events_header_and_a_different_event_id_is_422(api, count):
    before = count()
    opened = event("c1", "complaint.opened", "2026-03-01T10:00:00Z", "e-1", case_id="K1")
    response = api.post("/v1/events", json=opened, headers={HEADER: "e-2"})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]) == {"event_id", HEADER}
    assert api.post("/v1/events", json=opened, headers={HEADER: "e-1"}).status_code == 201
    assert count()["events"] == before["events"] + 1


def test_an_event_batch_refuses_the_header(api, count):
    before = count()
    body = {"events": [event("c1", "complaint.opened", "2026-03-01T10:00:00Z", case_id="K1")]}
    response = api.post("/v1/events", json=body, headers={HEADER: "batch-1"})
    assert response.status_code == 422
    assert count() == before
