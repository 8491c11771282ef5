"""POST /v1/decisions, GET /v1/decisions/<id> and GET /v1/decisions through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guard.core.timeutil import iso
from tests.conftest import event
from tests.web.api.conftest import decision_body


def test_a_decision_has_the_contract_fields(api):
    answer = api.decide(**decision_body())
    assert set(answer) == {"decision_id", "outcome", "route", "defer_until", "reasons", "rules_version",
                           "evaluated_at"}
    assert answer["outcome"] == "allow"
    assert answer["route"] is None and answer["defer_until"] is None
    assert answer["reasons"] == []
    assert answer["rules_version"] == api.get("/v1/rules").get_json()["version"]
    assert answer["evaluated_at"].endswith("Z")


def test_every_matching_rule_is_a_reason_the_winner_first(api):
    api.events(event("c1", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K1"),
               event("c1", "consent.withdrawn", "2026-03-01T00:00:00Z", channel="sms"),
               event("c1", "profile.updated", "2026-02-01T00:00:00Z", timezone="Europe/Paris"))
    answer = api.decide(**decision_body(channel="sms", send_at="2026-03-02T22:30:00Z"))
    assert answer["outcome"] == "block"
    assert [r["rule_id"] for r in answer["reasons"]] == ["consent", "care-first", "quiet-hours"]
    assert [r["outcome"] for r in answer["reasons"]] == ["block", "reroute", "defer"]
    assert answer["route"] is None and answer["defer_until"] is None


def test_send_at_defaults_to_now(api):
    before = datetime.now(UTC)
    answer = api.decide(customer_id="c1", channel="email", purpose="marketing")
    record = api.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    sent = datetime.fromisoformat(record["send_at"])
    assert before - timedelta(seconds=1) <= sent <= datetime.now(UTC) + timedelta(seconds=1)


def test_offsets_are_honoured_and_answered_in_utc(api):
    answer = api.decide(**decision_body(send_at="2026-03-02T13:00:00+01:00"))
    assert api.get(f"/v1/decisions/{answer['decision_id']}").get_json()["send_at"] == "2026-03-02T12:00:00Z"


@pytest.mark.parametrize(("body", "field"), [
    ({"channel": "email", "purpose": "marketing"}, "customer_id"),
    (decision_body(customer_id=""), "customer_id"),
    (decision_body(customer_id="x" * 201), "customer_id"),
    (decision_body(customer_id=42), "customer_id"),
    (decision_body(channel="pigeon"), "channel"),
    (decision_body(channel=None), "channel"),
    (decision_body(purpose="spam"), "purpose"),
    ({"customer_id": "c1", "purpose": "marketing"}, "channel"),
    ({"customer_id": "c1", "channel": "email"}, "purpose"),
    (decision_body(send_at="2026-03-02T12:00:00"), "send_at"),
    (decision_body(send_at="yesterday"), "send_at"),
    (decision_body(product_ids="P1"), "product_ids"),
    (decision_body(product_ids=[""]), "product_ids"),
    (decision_body(product_ids=["P"] * 101), "product_ids"),
    (decision_body(campaign_id=""), "campaign_id"),
    (decision_body(idempotency_key=""), "idempotency_key"),
    (decision_body(attributes={"tier": {"nested": 1}}), "attributes"),
    (decision_body(attributes={"tier": [1, 2]}), "attributes"),
    (decision_body(attributes={"tier": None}), "attributes"),
    (decision_body(attributes={"bad name": 1}), "attributes"),
    (decision_body(attributes=[1]), "attributes"),
    (decision_body(attributes={f"a{i}": i for i in range(51)}), "attributes"),
    (decision_body(chanel="email"), "chanel"),
    (decision_body(dry_run="maybe"), "dry_run"),
])
def test_invalid_requests_are_422_with_field_details(api, count, body, field):
    before = count()
    response = api.post("/v1/decisions", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"], error
    assert all(isinstance(m, list | dict) for m in error["details"].values())
    assert count() == before


@pytest.mark.parametrize("body", ["[]", '"text"', "1", "null", "true", "[{}]"])
def test_a_request_that_is_not_an_object_is_422(api, body):
    response = api.post("/v1/decisions", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["error"]["details"] == {"_schema": ["A JSON object."]}


def test_naive_send_at_explains_the_offset(api):
    response = api.post("/v1/decisions", json=decision_body(send_at="2026-03-02T12:00:00"))
    assert "offset" in response.get_json()["error"]["details"]["send_at"][0]


def test_a_send_at_in_another_form_shows_the_expected_one(api):
    response = api.post("/v1/decisions", json=decision_body(send_at="04/03/2026 10:00"))
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["send_at"] == [
        "Not a valid time: write ISO 8601 with an offset, e.g. 2026-03-01T10:00:00Z or 2026-03-01T11:00:00+01:00."]


def test_attributes_of_every_allowed_type_are_accepted(api):
    answer = api.decide(**decision_body(attributes={"tier": "gold", "score": 4.5, "count": 3, "vip": True}))
    record = api.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert record["request"]["attributes"] == {"tier": "gold", "score": 4.5, "count": 3, "vip": True}


def test_the_audit_record_is_complete(api):
    api.events(event("c1", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K1"))
    body = decision_body(campaign_id="spring", product_ids=["P1"], idempotency_key="k-1",
                         attributes={"tier": "gold"})
    answer = api.decide(**body)
    record = api.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert {k: record[k] for k in answer} == answer
    assert record["customer_id"] == "c1"
    assert record["campaign_id"] == "spring"
    assert (record["channel"], record["purpose"]) == ("email", "marketing")
    assert record["send_at"] == "2026-03-02T12:00:00Z"
    assert record["request"] == body
    assert record["idempotency_key"] == "k-1"
    assert record["api_key_name"] == "test-admin"
    assert record["reasons"][0]["rule_id"] == "care-first"
    assert record["facts"]["fields"]["channel"] == "email"


def test_an_unknown_decision_is_404(api):
    response = api.get("/v1/decisions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert error["details"] == {"decision_id": "00000000-0000-0000-0000-000000000000"}


def test_dry_run_answers_without_recording(api, count):
    before = count()
    answer = api.decide(**decision_body(dry_run=True))
    assert answer["dry_run"] is True
    assert count() == before
    assert api.get(f"/v1/decisions/{answer['decision_id']}").status_code == 404


# -- idempotency ---------------------------------------------------------------------------------------------

def test_same_idempotency_key_and_body_returns_the_first_decision_and_records_once(api, count):
    body = decision_body(idempotency_key="send-1")
    first = api.decide(**body)
    after_first = count()
    second = api.decide(**body)
    assert second == first
    assert count() == after_first
    assert len(api.get("/v1/decisions?customer_id=c1").get_json()["items"]) == 1


def test_key_order_and_spacing_do_not_make_a_different_body(api):
    first = api.decide(**decision_body(idempotency_key="send-2", product_ids=["P1"]))
    raw = ('{"send_at":"2026-03-02T12:00:00Z","product_ids":["P1"],"purpose":"marketing",'
           '"idempotency_key":"send-2","channel":"email","customer_id":"c1"}')
    again = api.post("/v1/decisions", data=raw, content_type="application/json")
    assert again.get_json()["decision_id"] == first["decision_id"]


@pytest.mark.parametrize("change", [{"channel": "sms"}, {"send_at": "2026-03-02T12:00:01Z"},
                                    {"customer_id": "c2"}, {"attributes": {"tier": "gold"}}])
def test_same_idempotency_key_with_a_different_body_is_409(api, count, change):
    first = api.decide(**decision_body(idempotency_key="send-3"))
    before = count()
    response = api.post("/v1/decisions", json={**decision_body(idempotency_key="send-3"), **change})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["details"] == {"idempotency_key": "send-3", "decision_id": first["decision_id"]}
    assert count() == before


def test_the_first_answer_is_replayed_even_after_the_situation_changed(api):
    first = api.decide(**decision_body(idempotency_key="send-4"))
    api.events(event("c1", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K1"))
    assert api.decide(**decision_body(idempotency_key="send-4")) == first
    assert api.decide(**decision_body())["outcome"] == "reroute"


# -- listing -------------------------------------------------------------------------------------------------

@pytest.fixture
def recorded(api):
    """Six decisions across customers, campaigns, channels, purposes and outcomes."""
    api.events(event("c2", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K1"),
               event("c3", "consent.withdrawn", "2026-03-01T00:00:00Z", channel="sms"))
    bodies = [
        decision_body("c1", campaign_id="spring"),
        decision_body("c1", campaign_id="summer", channel="sms"),
        decision_body("c2", campaign_id="spring"),
        decision_body("c2", purpose="transactional"),
        decision_body("c3", campaign_id="spring", channel="sms"),
        decision_body("c3", purpose="survey"),
    ]
    return [api.decide(**b)["decision_id"] for b in bodies]


@pytest.mark.parametrize(("query", "expected"), [
    ("", [0, 1, 2, 3, 4, 5]),
    ("customer_id=c1", [0, 1]),
    ("campaign_id=spring", [0, 2, 4]),
    ("outcome=reroute", [2]),
    ("outcome=block", [4]),
    ("outcome=allow", [0, 1, 3, 5]),
    ("rule_id=care-first", [2]),
    ("rule_id=exempt-transactional", [3]),
    ("rule_id=consent", [4]),
    ("channel=sms", [1, 4]),
    ("purpose=survey", [5]),
    ("purpose=transactional", [3]),
    ("customer_id=c3&channel=sms", [4]),
    ("customer_id=nobody", []),
])
def test_filters(api, recorded, query, expected):
    items = api.get(f"/v1/decisions?{query}").get_json()["items"]
    assert [i["decision_id"] for i in items] == [recorded[i] for i in reversed(expected)]


def test_since_and_until_filter_on_when_guard_decided(api):
    start = datetime.now(UTC) - timedelta(seconds=1)
    decision_id = api.decide(**decision_body())["decision_id"]
    end = datetime.now(UTC) + timedelta(seconds=1)

    def ids(query):
        response = api.get("/v1/decisions", query_string=query)
        assert response.status_code == 200, response.get_json()
        return [i["decision_id"] for i in response.get_json()["items"]]

    assert ids({"since": iso(start), "until": iso(end)}) == [decision_id]
    assert ids({"since": start.astimezone().isoformat()}) == [decision_id]
    assert ids({"since": iso(end)}) == []
    assert ids({"until": iso(start)}) == []


def test_pagination_walks_every_decision_once(api):
    made = [api.decide(**decision_body(f"p{i}"))["decision_id"] for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/decisions", query_string=query).get_json()
        assert len(page["items"]) <= 3
        seen += [i["decision_id"] for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))


def test_pagination_keeps_the_filters(api):
    made = [api.decide(**decision_body("a" if i % 2 else "b"))["decision_id"] for i in range(6)]
    first = api.get("/v1/decisions?customer_id=a&limit=2").get_json()
    second = api.get(f"/v1/decisions?customer_id=a&limit=2&cursor={first['next_cursor']}").get_json()
    ids = [i["decision_id"] for i in first["items"] + second["items"]]
    assert ids == [made[5], made[3], made[1]]
    assert second["next_cursor"] is None


def test_a_full_last_page_has_no_cursor_and_default_limit_is_50(api):
    for i in range(2):
        api.decide(**decision_body(f"q{i}"))
    assert api.get("/v1/decisions?limit=2").get_json()["next_cursor"] is None
    assert api.get("/v1/decisions?limit=1").get_json()["next_cursor"] is not None


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
    ("outcome=maybe", "outcome"), ("channel=pigeon", "channel"), ("purpose=spam", "purpose"),
    ("since=2026-03-01T00:00:00", "since"), ("until=tomorrow", "until"),
    ("cursor=not-a-cursor", "cursor"), ("cursor=ZDp4", "cursor"), ("cursor=ZDotMQ", "cursor"),
    ("cursor=ZDo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "cursor"),
    ("customer_id=", "customer_id"), ("page=2", "page"), ("outcome=allow&outcome=block", "outcome"),
])
def test_bad_query_parameters_are_422_with_field_details(api, query, field):
    response = api.get(f"/v1/decisions?{query}")
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]


@pytest.mark.parametrize(("query", "count"), [
    ("since=0001-01-01T00:00:00%2B01:00", 1), ("until=9999-12-31T23:59:59-01:00", 1),
    ("since=9999-12-31T23:59:59-01:00", 0), ("until=0001-01-01T00:00:00%2B01:00", 0),
    ("since=1136-07-31T19:31:42%2B21:29", 1),
])
def test_times_at_the_edges_of_the_calendar_filter_correctly(api, query, count):
    api.decide(**decision_body())
    response = api.get(f"/v1/decisions?{query}")
    assert response.status_code == 200
    assert len(response.get_json()["items"]) == count


def test_a_decisions_proof_is_documented_and_verifies(api):
    from guard_client import verify_proof

    decided = api.decide(**decision_body())
    response = api.get(f"/v1/decisions/{decided['decision_id']}/proof")
    assert response.status_code == 200
    proof = response.get_json()
    assert proof["record"]["kind"] == "decisions" and verify_proof(proof)
    assert api.get("/v1/decisions/unknown/proof").status_code == 404
