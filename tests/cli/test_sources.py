"""`guard sources`, and vendor deliveries to a real `guard serve` (gunicorn, 2 workers) changing its decisions."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from guard.cli import main
from tests.cli.conftest import Invoke
from tests.cli.test_serve import _serving
from tests.conftest import RULES_DIR
from tests.inbound.conftest import fixture
from tests.sources import signing

SECRET = "whsec_cli-test-secret-0123456789"


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_add_list_remove_and_the_secret_is_never_shown(invoke: Invoke, cli_db_url: str):
    added = invoke("sources", "add", "shop", "--kind", "shopify", "--secret", SECRET,
                   "--customer-field", "customer.email")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip().splitlines()[-1] == "/v1/inbound/shop"
    listed = invoke("sources", "list")
    assert listed.exit_code == 0
    assert "shop" in listed.output and "shopify" in listed.output and "customer.email" in listed.output
    taken = invoke("sources", "add", "shop", "--kind", "stripe", "--secret", "x")
    assert taken.exit_code == 1 and "exists" in taken.output
    bad = invoke("sources", "add", "Shop!", "--kind", "shopify", "--secret", "x")
    assert bad.exit_code == 1 and "name" in bad.output
    assert invoke("sources", "add", "x", "--kind", "magento", "--secret", "x").exit_code == 2
    removed = invoke("sources", "remove", "shop")
    assert removed.exit_code == 0 and "Removed source shop" in removed.output
    assert invoke("sources", "remove", "shop").exit_code == 1
    assert "No sources yet" in invoke("sources", "list").output
    for result in (added, listed, taken, removed):
        assert SECRET not in result.output
    [(box,)] = _rows(cli_db_url, "SELECT secret_box FROM sources")
    assert SECRET not in str(box)
    verified = invoke("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_the_secret_is_asked_for_without_echo_when_not_given(invoke: Invoke):
    added = invoke("sources", "add", "desk", "--kind", "zendesk", input=SECRET + "\n")
    assert added.exit_code == 0, added.output
    assert SECRET not in added.output
    assert added.stdout.strip().splitlines()[-1] == "/v1/inbound/desk"


@pytest.mark.slow
def test_vendor_deliveries_to_a_real_server(server_db_url: str, tmp_path: Path):
    env = {**os.environ, "GUARD_DATABASE_URL": server_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}
    runner = CliRunner()
    for name, kind in (("shop", "shopify"), ("desk", "zendesk"), ("pay", "stripe")):
        added = runner.invoke(main, ["sources", "add", name, "--kind", kind, "--secret", SECRET], env=env)
        assert added.exit_code == 0, added.output
    created = runner.invoke(main, ["keys", "create", "--name", "it", "--scope", "decide"], env=env)
    auth = {"Authorization": f"Bearer {created.stdout.strip()}"}

    def events() -> int:
        return int(_rows(server_db_url, "SELECT count(*) FROM events")[0][0])

    with _serving(env, tmp_path) as (base, _):
        order = signing.paid_order()
        headers = signing.shopify(SECRET, order, "orders/create")
        delivered = requests.post(f"{base}/v1/inbound/shop", data=order, headers=headers, timeout=30)
        assert delivered.status_code == 200, delivered.text
        [event] = delivered.json()["events"]
        assert event["status"] == "created" and event["customer_id"] == f"shop:{signing.SHOPIFY_CUSTOMER}"
        decision = requests.post(f"{base}/v1/decisions", headers=auth, timeout=30, json={
            "customer_id": event["customer_id"], "channel": "email", "purpose": "marketing",
            "send_at": "2022-01-02T12:00:00Z", "product_ids": [signing.SHOPIFY_PRODUCT]}).json()
        assert (decision["outcome"], decision["reasons"][0]["rule_id"]) == ("block", "just-bought")

        stored = events()
        again = requests.post(f"{base}/v1/inbound/shop", data=order, headers=headers, timeout=30)
        assert again.status_code == 200 and [e["status"] for e in again.json()["events"]] == ["duplicate"]
        assert events() == stored

        ticket = fixture("zendesk", "ticket_created.json")
        opened = requests.post(f"{base}/v1/inbound/desk", data=ticket, headers=signing.zendesk(SECRET, ticket),
                               timeout=30)
        assert opened.status_code == 200, opened.text
        requester = opened.json()["events"][0]["customer_id"]
        assert requester == f"desk:{signing.ZENDESK_REQUESTER}"
        care = requests.post(f"{base}/v1/decisions", headers=auth, timeout=30, json={
            "customer_id": requester, "channel": "email", "purpose": "marketing",
            "send_at": "2025-01-09T09:00:00Z"}).json()
        assert (care["outcome"], care["reasons"][0]["rule_id"]) == ("reroute", "care-first")

        stored = events()
        refund = fixture("stripe", "charge_refunded.json")
        for headers in (signing.stripe("whsec_another", refund),
                        signing.stripe(SECRET, refund, datetime.now(UTC) - timedelta(minutes=10))):
            refused = requests.post(f"{base}/v1/inbound/pay", data=refund, headers=headers, timeout=30)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "invalid_signature"
        assert events() == stored

        metrics = requests.get(f"{base}/metrics", timeout=30).text
        assert 'guard_inbound_deliveries_total{kind="shopify",result="created",source="shop"} 1.0' in metrics
        assert 'guard_inbound_deliveries_total{kind="stripe",result="invalid_signature",source="pay"} 2.0' in metrics
    verified = runner.invoke(main, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
