"""`/v1/subscriptions`: admins subscribe receivers, follow deliveries and redeliver; secrets are shown once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from guard.app import Guard
from guard.audit.verify import verify
from guard.core.vault import unseal
from guard.outbound.delivery import Policy
from guard.outbound.outbox import enqueue
from guard.outbound.subscriptions import vault_name
from guard.outbound.worker import Deliverer
from guard.storage.tables.outbound import WebhookSubscription
from tests.outbound.receiver import Receiver
from tests.web.api.conftest import Api

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def _add(api: Api, **body: object) -> dict:
    response = api.post("/v1/subscriptions", json={"url": "https://care.example.com/hooks",
                                                   "events": ["care.requested"], **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_generated_secret_is_answered_once_and_stored_encrypted(api: Api, guard: Guard):
    added = _add(api)
    assert added["secret"].startswith("whsec_") and added["events"] == ["care.requested"]
    assert added["created_by"] == "test-admin" and added["removed_at"] is None
    listed = api.get("/v1/subscriptions").get_json()["subscriptions"]
    assert listed == [{k: v for k, v in added.items() if k != "secret"}]
    assert added["secret"] not in str(listed)
    with guard.db.sessions() as session:
        row = session.scalars(select(WebhookSubscription)).one()
        assert added["secret"] not in row.secret_box
        assert unseal(guard.settings.audit_key, vault_name(row.id), row.secret_box) == added["secret"]
        assert verify(session).ok


def test_a_given_secret_is_kept_and_never_answered(api: Api):
    added = _add(api, secret=SECRET, events=["hold.released", "care.requested", "care.requested"])
    assert added["secret"] is None and added["events"] == ["care.requested", "hold.released"]
    assert SECRET not in str(api.get("/v1/subscriptions").get_json())


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://care.example.com/", "events": ["care.requested"]}, "url"),
    ({"url": "https://care.example.com/", "events": []}, "events"),
    ({"url": "https://care.example.com/", "events": ["care.requested"], "secret": "hunter2"}, "secret"),
    ({"url": "https://care.example.com/", "events": ["care.requested"], "active": True}, "active"),
])
def test_invalid_subscriptions_are_refused_with_field_details(api: Api, body: dict, field: str):
    response = api.post("/v1/subscriptions", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]
    assert api.get("/v1/subscriptions").get_json() == {"subscriptions": []}


def test_an_event_type_guard_never_sends_is_refused_with_the_nearest_one(api: Api):
    response = api.post("/v1/subscriptions", json={"url": "https://care.example.com/",
                                                   "events": ["care.requested", "care.request", "order.created"]})
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["events"] == [
        "Guard sends no 'care.request' messages. Did you mean care.requested? It sends: care.requested, "
        "hold.released, hold.ended, hold.expired.",
        "Guard sends no 'order.created' messages. It sends: care.requested, hold.released, hold.ended, hold.expired."]
    assert api.get("/v1/subscriptions").get_json() == {"subscriptions": []}


def test_every_type_guard_sends_can_be_subscribed_to(api: Api):
    events = ["care.requested", "hold.released", "hold.ended", "hold.expired"]
    assert _add(api, events=events)["events"] == sorted(events)


def test_removing_a_subscription_and_removing_it_again(api: Api):
    added = _add(api)
    removed = api.request("DELETE", f"/v1/subscriptions/{added['id']}")
    assert removed.status_code == 200 and removed.get_json()["removed_at"] is not None
    assert api.request("DELETE", f"/v1/subscriptions/{added['id']}").status_code == 404
    assert api.get("/v1/subscriptions").get_json() == {"subscriptions": []}


def test_deliveries_are_listed_by_status_and_a_failed_one_redelivered(api: Api, guard: Guard, receiver: Receiver):
    receiver.answer = lambda n: 500 if n == 1 else 200
    added = _add(api, url=receiver.url, secret=SECRET)
    with guard.db.raw_transaction() as sql:
        message_id = enqueue(sql, "care.requested", {"customer_id": "c1"})
    # A window shorter than the first retry: one failed attempt fails the delivery.
    Deliverer(guard.db, guard.settings.audit_key, Policy(timeout=2, backoff=60, retry_for=1)).round()
    [failed] = api.get("/v1/subscriptions/deliveries?status=failed").get_json()["deliveries"]
    assert failed["message_id"] == message_id and failed["subscription_id"] == added["id"]
    assert failed["attempts"] == 1 and failed["last_status"] == 500 and "HTTP 500" in failed["last_error"]
    assert api.get("/v1/subscriptions/deliveries?status=delivered").get_json() == {"deliveries": []}
    again = api.post(f"/v1/subscriptions/deliveries/{failed['id']}/redeliver")
    assert again.status_code == 200 and again.get_json()["status"] == "pending"
    Deliverer(guard.db, guard.settings.audit_key, Policy(timeout=2)).round()
    [delivered] = api.get("/v1/subscriptions/deliveries").get_json()["deliveries"]
    assert delivered["status"] == "delivered" and delivered["attempts"] == 2 and delivered["last_error"] is None
    assert [r.signed_by(SECRET) for r in receiver.received] == [True, True]


def test_redelivering_nothing_or_for_a_removed_subscription(api: Api, guard: Guard, receiver: Receiver):
    for missing in ("999", "0", str(2**63)):
        assert api.post(f"/v1/subscriptions/deliveries/{missing}/redeliver").status_code == 404
        assert api.request("DELETE", f"/v1/subscriptions/{missing}").status_code == 404
    added = _add(api, url=receiver.url)
    with guard.db.raw_transaction() as sql:
        enqueue(sql, "care.requested", {"customer_id": "c1"})
    Deliverer(guard.db, guard.settings.audit_key, Policy(timeout=2)).round()
    [delivery] = api.get("/v1/subscriptions/deliveries").get_json()["deliveries"]
    api.request("DELETE", f"/v1/subscriptions/{added['id']}")
    conflict = api.post(f"/v1/subscriptions/deliveries/{delivery['id']}/redeliver")
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "conflict"


@pytest.mark.parametrize("query", ["status=lost", "limit=0", "limit=x", "status=failed&status=pending", "since=1"])
def test_a_bad_deliveries_query_is_refused(api: Api, query: str):
    response = api.get(f"/v1/subscriptions/deliveries?{query}")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "validation_failed"
