"""Batch and streaming decisions over HTTP: order, per-item errors, audit completeness, equality with singles."""

from __future__ import annotations

import json

import pytest

from guard.situation.events import ingest_batch
from tests.conftest import event
from tests.decisions.conftest import api_client, decision_count

SEND_AT = "2026-03-10T12:00:00Z"
MESSAGE = {"channel": "email", "purpose": "marketing", "campaign_id": "spring", "send_at": SEND_AT,
           "product_ids": ["P1"]}


@pytest.fixture
def api(guard):
    client = api_client(guard)
    ingest_batch(guard.db, [
        event("angry", "complaint.opened", "2026-03-08T09:00:00Z", case_id="K-1"),
        event("buyer", "purchase.completed", "2026-03-05T09:00:00Z", order_id="O-1", product_ids=["P1"]),
    ])
    return client


def test_message_with_customer_ids_answers_in_order(api, guard):
    customers = ["angry", "buyer", "nobody", "nobody-2"]
    response = api.post("/v1/decisions/batch", json={"message": MESSAGE, "customer_ids": customers})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["outcome"] for r in results] == ["reroute", "block", "allow", "allow"]
    summary = response.get_json()["summary"]
    assert summary["outcomes"] == {"reroute": 1, "block": 1, "allow": 2} and summary["errors"] == 0
    for customer, result in zip(customers, results, strict=True):
        single = api.post("/v1/decisions", json={**MESSAGE, "customer_id": customer, "dry_run": True}).get_json()
        assert (single["outcome"], single["route"], single["reasons"]) == \
            (result["outcome"], result["route"], result["reasons"])
        record = api.get(f"/v1/decisions/{result['decision_id']}")
        assert record.status_code == 200 and record.get_json()["customer_id"] == customer


def test_bad_items_get_their_own_errors(api, guard):
    requests = [{**MESSAGE, "customer_id": "a"}, {**MESSAGE, "customer_id": ""}, 7, {**MESSAGE, "customer_id": "b"}]
    results = api.post("/v1/decisions/batch", json={"requests": requests}).get_json()["results"]
    assert ["error" in r for r in results] == [False, True, True, False]
    assert results[1]["error"]["code"] == "validation_failed" and "customer_id" in results[1]["error"]["details"]
    assert decision_count(guard.db) == 2


@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"requests": []}, "requests"),
    ({"message": MESSAGE}, "customer_ids"),
    ({"message": {**MESSAGE, "customer_id": "x"}, "customer_ids": ["a"]}, "message"),
    ({"requests": [{}], "customer_ids": ["a"]}, "_schema"),
    ({"customer_ids": ["a"] * 10_001, "message": MESSAGE}, "customer_ids"),
])
def test_malformed_batches_are_422_and_write_nothing(api, guard, body, field):
    response = api.post("/v1/decisions/batch", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]
    assert decision_count(guard.db) == 0


def test_stream_answers_every_line_in_order_and_audits_each(api, guard):
    lines = [json.dumps({**MESSAGE, "customer_id": f"c-{n}"}) for n in range(2500)]
    lines.insert(10, "{not json")
    lines.insert(20, json.dumps({**MESSAGE, "customer_id": "x", "channel": "fax"}))
    lines.append(json.dumps({**MESSAGE, "customer_id": "angry"}))
    body = "\n".join(lines) + "\n"
    response = api.post("/v1/decisions/stream", data=body, content_type="application/x-ndjson")
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    results = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [r["index"] for r in results] == list(range(len(lines)))
    assert results[10]["error"]["code"] == "malformed_json" and results[10]["error"]["details"]["line"] == 11
    assert results[20]["error"]["code"] == "validation_failed"
    assert results[-1]["outcome"] == "reroute"
    assert decision_count(guard.db) == len(lines) - 2


def test_stream_needs_ndjson(api):
    response = api.post("/v1/decisions/stream", data="{}", content_type="application/json")
    assert response.status_code == 415


def test_null_items_get_their_own_errors(api):
    results = api.post("/v1/decisions/batch", json={"message": MESSAGE, "customer_ids": ["a", None]}).get_json()
    assert "error" not in results["results"][0] and results["results"][1]["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("send_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1899-12-31T23:59:59Z"])
def test_times_at_the_calendars_edges_are_field_errors(api, send_at):
    response = api.post("/v1/decisions", json={**MESSAGE, "customer_id": "a", "send_at": send_at})
    assert response.status_code == 422 and "send_at" in response.get_json()["error"]["details"]
    results = api.post("/v1/decisions/batch", json={"message": {**MESSAGE, "send_at": send_at},
                                                    "customer_ids": ["a"]}).get_json()["results"]
    assert "send_at" in results[0]["error"]["details"]
