"""The README's "Integrate a sending tool" stays true: its field table names every field of a decision
request as the served description has them, and its examples answer as shown."""

from __future__ import annotations

import json
import re

from tests.conftest import ROOT
from tests.web.api.conftest import Api
from tests.web.api.openapi import spec


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Integrate a sending tool\n", 1)[1].split("\n## ", 1)[0]


def test_the_field_table_names_every_decision_field():
    table = set(re.findall(r"^\s*\| `(\w+)` \|", _section(), flags=re.MULTILINE))
    assert table == set(spec()["components"]["schemas"]["DecisionRequest"]["properties"])


def test_the_examples_answer_as_shown(api: Api):
    assert api.post("/v1/events", json={
        "event_id": "shop-981", "customer_id": "cust-7", "type": "purchase.completed",
        "occurred_at": "2026-03-02T18:00:00Z", "data": {"order_id": "ORD-981", "product_ids": ["espresso-pro"]},
    }).status_code == 201
    examples = re.findall(r"^\$ decide '(.*?)'\n(.*?)\n", _section(), flags=re.MULTILINE | re.DOTALL)
    assert len(examples) == 2
    (preview, preview_answer), (keyed, keyed_answer) = examples
    body = json.loads(preview)
    shown = json.loads(preview_answer.replace('"01a22920-…"', '"x"').replace('"…"', '"x"'))
    answer = api.decide(**body)
    assert body["dry_run"] and "attributes" in body and "product_ids" in body
    for field in ("outcome", "route", "defer_until", "reasons", "dry_run"):
        assert answer[field] == shown[field], field
    body = json.loads(keyed)
    first = api.decide(**body)
    assert first["outcome"] == json.loads(keyed_answer.replace('"01a22920-3aec-…"', '"x"').replace(
        '"…"', '"x"'))["outcome"]
    assert api.decide(**body) == first  # the retry: the same decision
    conflict = api.post("/v1/decisions", json={**body, "channel": "sms"})
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "idempotency_conflict"
    assert conflict.get_json()["error"]["details"] == {"idempotency_key": body["idempotency_key"],
                                                       "decision_id": first["decision_id"]}
    assert '"code":"idempotency_conflict"' in _section()
