"""`POST /v1/inbound/NAME`: vendors' published sample deliveries, signed with the source's secret, become events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from guard.app import Guard
from guard.audit.verify import verify
from guard.storage.tables.situation import CustomerAlias, Event
from tests.inbound.conftest import fixture
from tests.sources import signing
from tests.web.api.conftest import Api

SECRET = "inbound-test-secret-0123456789"


def _source(api: Api, name: str, kind: str, **extra: object) -> None:
    response = api.post("/v1/sources", json={"name": name, "kind": kind, "secret": SECRET, **extra})
    assert response.status_code == 201, response.get_json()


def _deliver(api: Api, name: str, body: bytes, headers: dict[str, str]) -> TestResponse:
    return api.request("POST", f"/v1/inbound/{name}", token=None, data=body, headers=headers)


def _events(guard: Guard) -> int:
    with guard.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def _link(guard: Guard, alias: str, customer_id: str) -> None:
    with guard.db.transaction() as session:
        session.add(CustomerAlias(alias=alias, customer_id=customer_id, created_at=datetime.now(UTC)))


def _order(api: Api) -> TestResponse:
    body = signing.paid_order()
    return _deliver(api, "shop", body, signing.shopify(SECRET, body, "orders/create"))


def test_a_shopify_order_blocks_marketing_for_what_was_bought(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    answer = _order(api)
    assert answer.status_code == 200, answer.get_json()
    customer = f"shop:{signing.SHOPIFY_CUSTOMER}"
    assert answer.get_json()["events"] == [{
        "event_id": f"shop:shopify-order-{signing.SHOPIFY_ORDER}", "type": "purchase.completed",
        "customer_id": customer, "status": "created", "customer_linked": False}]
    assert answer.get_json()["ignored"] is None
    assert any("No identity link" in note for note in answer.get_json()["notes"])
    decision = api.decide(customer_id=customer, channel="email", purpose="marketing",
                          send_at="2022-01-02T12:00:00Z", product_ids=[signing.SHOPIFY_PRODUCT])
    assert (decision["outcome"], decision["reasons"][0]["rule_id"]) == ("block", "just-bought")
    other = api.decide(customer_id=customer, channel="email", purpose="marketing",
                       send_at="2022-01-02T12:00:00Z", product_ids=["another-product"])
    assert other["outcome"] == "allow"


def test_a_repeated_delivery_stores_nothing_new(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    body = signing.paid_order()
    headers = signing.shopify(SECRET, body, "orders/create", webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    assert _deliver(api, "shop", body, headers).get_json()["events"][0]["status"] == "created"
    stored = _events(guard)
    again = _deliver(api, "shop", body, headers)
    assert again.status_code == 200
    assert [e["status"] for e in again.get_json()["events"]] == ["duplicate"]
    assert _events(guard) == stored


def test_a_linked_vendor_customer_is_stored_under_guards_id(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    _link(guard, f"shop:{signing.SHOPIFY_CUSTOMER}", "cust-42")
    event = _order(api).get_json()["events"][0]
    assert (event["customer_id"], event["customer_linked"]) == ("cust-42", True)


def test_a_customer_field_picks_the_email_which_resolves_as_an_email_alias(api: Api, guard: Guard):
    _source(api, "shop", "shopify", customer_field="customer.email")
    assert _order(api).get_json()["events"][0]["customer_id"] == "email:john@example.com"
    _link(guard, "email:john@example.com", "cust-7")
    # Another order of the same customer (the sample's id changed), now linked.
    body = signing.paid_order().replace(b'"id": 820982911946154508', b'"id": 820982911946154509', 1)
    event = _deliver(api, "shop", body, signing.shopify(SECRET, body, "orders/create")).get_json()["events"][0]
    assert (event["customer_id"], event["customer_linked"]) == ("cust-7", True)


def test_a_refund_naming_only_the_order_finds_the_customer_of_the_purchase(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    refund = fixture("shopify", "refunds_create.json")
    before = _deliver(api, "shop", refund, signing.shopify(SECRET, refund, "refunds/create"))
    assert before.status_code == 200
    assert before.get_json()["events"] == []
    assert "saw no purchase for order" in before.get_json()["ignored"]
    assert _events(guard) == 0
    _order(api)
    after = _deliver(api, "shop", refund, signing.shopify(SECRET, refund, "refunds/create")).get_json()
    assert [(e["type"], e["customer_id"], e["status"]) for e in after["events"]] == [
        ("refund.completed", f"shop:{signing.SHOPIFY_CUSTOMER}", "created")]


def test_an_unmapped_topic_is_accepted_and_ignored(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    body = b'{"id": 1, "title": "A product"}'
    answer = _deliver(api, "shop", body, signing.shopify(SECRET, body, "products/update"))
    assert answer.status_code == 200
    assert answer.get_json()["events"] == [] and "products/update" in answer.get_json()["ignored"]
    assert _events(guard) == 0


def test_a_zendesk_ticket_reroutes_marketing_for_its_requester(api: Api, guard: Guard):
    _source(api, "desk", "zendesk")
    body = fixture("zendesk", "ticket_created.json")
    answer = _deliver(api, "desk", body, signing.zendesk(SECRET, body))
    assert answer.status_code == 200, answer.get_json()
    [event] = answer.get_json()["events"]
    assert (event["type"], event["customer_id"]) == ("complaint.opened", f"desk:{signing.ZENDESK_REQUESTER}")
    decision = api.decide(customer_id=event["customer_id"], channel="email", purpose="marketing",
                          send_at="2025-01-09T09:00:00Z")
    assert (decision["outcome"], decision["reasons"][0]["rule_id"]) == ("reroute", "care-first")


def test_a_bad_or_stale_stripe_signature_is_401_and_stores_nothing(api: Api, guard: Guard):
    _source(api, "pay", "stripe")
    body = fixture("stripe", "charge_refunded.json")
    cases = {
        "missing": {"Content-Type": "application/json"},
        "wrong secret": signing.stripe("another-secret", body),
        "stale": signing.stripe(SECRET, body, datetime.now(UTC) - timedelta(minutes=6)),
        "tampered body": signing.stripe(SECRET, body.replace(b"ch_", b"ch_X", 1)),
    }
    for case, headers in cases.items():
        answer = _deliver(api, "pay", body, headers)
        assert answer.status_code == 401, (case, answer.get_json())
        assert answer.get_json()["error"]["code"] == "invalid_signature", case
    assert _events(guard) == 0
    fresh = _deliver(api, "pay", body, signing.stripe(SECRET, body))
    assert fresh.status_code == 200, fresh.get_json()


def test_an_api_key_is_no_signature(api: Api, make_key: Callable[..., str]):
    _source(api, "shop", "shopify")
    body = signing.paid_order()
    headers = {"X-Shopify-Topic": "orders/create", "Authorization": f"Bearer {make_key('admin')}"}
    answer = api.request("POST", "/v1/inbound/shop", token=None, data=body, headers=headers)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "invalid_signature"


def test_an_unknown_or_removed_source_is_404(api: Api):
    body = signing.paid_order()
    for name in ("nobody", "n%00body", "x" * 300):  # a NUL would fail PostgreSQL's query if it were looked up
        answer = _deliver(api, name, body, signing.shopify(SECRET, body, "orders/create"))
        assert answer.status_code == 404, (name, answer.get_json())
    _source(api, "shop", "shopify")
    assert api.request("DELETE", "/v1/sources/shop").status_code == 200
    answer = _deliver(api, "shop", body, signing.shopify(SECRET, body, "orders/create"))
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"


def test_a_signed_body_that_is_not_json_is_400(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    body = b"not json"
    answer = _deliver(api, "shop", body, signing.shopify(SECRET, body, "orders/create"))
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "malformed_payload"


def test_a_body_over_the_limit_is_413(app: Flask, api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    body = b" " * (app.config["MAX_CONTENT_LENGTH"] + 1)
    answer = _deliver(api, "shop", body, signing.shopify(SECRET, body, "orders/create"))
    assert answer.status_code == 413
    assert _events(guard) == 0


def test_woocommerces_unsigned_ping_is_accepted_and_stores_nothing(api: Api, guard: Guard):
    _source(api, "woo", "woocommerce")
    answer = _deliver(api, "woo", b"webhook_id=15", {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["events"] == [] and "ping" in answer.get_json()["ignored"]


def test_deliveries_are_counted_by_source_kind_and_result(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    metrics = api.client.get("/metrics").get_data(as_text=True)

    def count(result: str, source: str = "shop", kind: str = "shopify") -> float:
        text = api.client.get("/metrics").get_data(as_text=True)
        line = f'guard_inbound_deliveries_total{{kind="{kind}",result="{result}",source="{source}"}} '
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    assert metrics
    before = {r: count(r) for r in ("created", "duplicate", "invalid_signature")}
    unknown = count("unknown_source", "(unknown)", "(unknown)")
    body = signing.paid_order()
    headers = signing.shopify(SECRET, body, "orders/create")
    _deliver(api, "shop", body, headers)
    _deliver(api, "shop", body, headers)
    _deliver(api, "shop", body, {**headers, "X-Shopify-Hmac-Sha256": "AAAA"})
    _deliver(api, "nobody", body, headers)
    assert {r: count(r) - before[r] for r in before} == {"created": 1, "duplicate": 1, "invalid_signature": 1}
    assert count("unknown_source", "(unknown)", "(unknown)") == unknown + 1


def test_the_chain_covers_inbound_events(api: Api, guard: Guard):
    _source(api, "shop", "shopify")
    _order(api)
    with guard.db.sessions() as session:
        assert verify(session).ok


def test_hubspot_v3_is_checked_over_the_url_the_vendor_called(api: Api, guard: Guard):
    _source(api, "crm", "hubspot")
    body = fixture("hubspot", "contact_optout.json")
    elsewhere = _deliver(api, "crm", body, signing.hubspot(SECRET, body, "http://localhost/v1/inbound/other"))
    assert elsewhere.status_code == 401
    answer = _deliver(api, "crm", body, signing.hubspot(SECRET, body, "http://localhost/v1/inbound/crm"))
    assert answer.status_code == 200, answer.get_json()
    assert [(e["type"], e["customer_id"]) for e in answer.get_json()["events"]] == [
        ("consent.withdrawn", "crm:123"), ("consent.given", "crm:456")]  # a batch of two, each mapped
