"""Identity links through a real `guard serve` (gunicorn, 2 workers): aliases join a shop customer and a
helpdesk requester into one situation; the chain still verifies, and erasing the customer unlinks them."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.cli.conftest import Invoke
from tests.conftest import RULES_DIR
from tests.faults.real import GuardServer, make_key

SHOP, HELPDESK, CRM = "shop:7890123456789", "helpdesk:381626", "cust-42"
MARKETING = {"channel": "email", "purpose": "marketing", "product_ids": ["espresso-pro"],
             "send_at": "2026-03-04T10:00:00Z"}


def test_aliases_join_a_shop_customer_and_a_helpdesk_requester_into_one_situation(
        cli_db_url: str, invoke: Invoke, tmp_path: Path):
    token = make_key(cli_db_url, "events", "decide", "read", name="served")
    env = {"GUARD_DATABASE_URL": cli_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}
    with GuardServer(env, tmp_path, workers=2) as server:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        stored = http.post(f"{server.url}/v1/events", json={"events": [
            {"event_id": "shopify-981", "customer_id": SHOP, "type": "purchase.completed",
             "occurred_at": "2026-03-02T18:00:00Z", "data": {"order_id": "981", "product_ids": ["espresso-pro"]}},
            {"event_id": "zendesk-381", "customer_id": HELPDESK, "type": "complaint.opened",
             "occurred_at": "2026-03-03T09:00:00Z", "data": {"case_id": "381"}}]}, timeout=30)
        assert stored.json()["created"] == 2
        apart = http.post(f"{server.url}/v1/decisions", json={"customer_id": HELPDESK, **MARKETING}, timeout=30)
        assert [r["rule_id"] for r in apart.json()["reasons"]] == ["care-first"]  # no purchase seen yet

        linked = http.post(f"{server.url}/v1/customers/{CRM}/aliases", json={"aliases": [SHOP, HELPDESK]},
                           timeout=30)
        assert linked.status_code == 201 and linked.json()["created"] == 2
        # Both workers answer (one connection per request); every name sees the purchase and the complaint.
        for _ in range(2):
            for name in (SHOP, HELPDESK, CRM):
                answer = requests.post(f"{server.url}/v1/decisions", json={"customer_id": name, **MARKETING},
                                       headers=http.headers, timeout=30).json()
                assert answer["outcome"] == "block", (name, answer)
                assert [r["rule_id"] for r in answer["reasons"]] == ["just-bought", "care-first"], name
        view = http.get(f"{server.url}/v1/customers/{HELPDESK}", params={"at": "2026-03-04T10:00:00Z"},
                        timeout=30).json()
        assert view["linked_to"] == CRM and [p["order_id"] for p in view["recent_purchases"]] == ["981"]
        assert http.get(f"{server.url}/v1/customers/{CRM}/aliases", timeout=30).json()["aliases"][1]["alias"] \
            == HELPDESK
        refused = http.post(f"{server.url}/v1/customers/cust-43/aliases", json={"aliases": [SHOP]}, timeout=30)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "alias_taken"

    verified = invoke("audit", "verify", "--json")
    assert verified.exit_code == 0 and json.loads(verified.output)["ok"], verified.output
    erased = invoke("customers", "erase", CRM)
    assert erased.exit_code == 0 and f"2 aliases unlinked ({HELPDESK}, {SHOP})" in erased.output, erased.output
    assert invoke("audit", "verify").exit_code == 0
