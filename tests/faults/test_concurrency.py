"""Many clients at once for one customer end where the same requests in sequence end: the same situation,
the same frequency-cap counts, one decision per idempotency key."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.faults.load import iso
from tests.faults.real import GuardServer, make_key, wait_projected

pytestmark = pytest.mark.slow

DECISIONS = 10  # with the starter cap of 3 marketing sends in 7 days: 3 allow and 7 defer, in any order
REPEATS = 4  # idempotent retries of some of them, sent at the same time


def _requests(customer: str, send_at: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Events that leave an email campaign for another product allowed, and capped marketing decisions."""
    before = send_at - timedelta(days=2)
    events = [
        ("purchase.completed", {"order_id": "O-1", "product_ids": ["kettle"]}),
        ("consent.withdrawn", {"channel": "sms"}),
        ("consent.given", {"channel": "push"}),
        ("profile.updated", {"timezone": "Europe/Paris", "customer_since": "2020-01-01"}),
        ("newsletter.opened", {"issue": "march"}),
        ("purchase.completed", {"order_id": "O-2", "product_ids": ["grinder"]}),
    ]
    out: list[tuple[str, dict[str, Any]]] = [
        ("/v1/events", {"event_id": f"{customer}-e{i}", "customer_id": customer, "type": type_,
                        "occurred_at": iso(before + timedelta(minutes=i)), "data": data})
        for i, (type_, data) in enumerate(events)
    ]
    decisions = [("/v1/decisions", {"customer_id": customer, "channel": "email", "purpose": "marketing",
                                    "product_ids": ["espresso"], "send_at": iso(send_at),
                                    "idempotency_key": f"{customer}-d{i}"}) for i in range(DECISIONS)]
    return out + decisions + decisions[:REPEATS]


def _post(base: str, token: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _all_at_once(base: str, token: str, batch: list[tuple[str, dict[str, Any]]]) -> list[requests.Response]:
    start = threading.Barrier(len(batch))
    answers: list[requests.Response | None] = [None] * len(batch)

    def one(index: int) -> None:
        start.wait(timeout=30)
        answers[index] = _post(base, token, *batch[index])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(batch))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def _summary(base: str, token: str, customer: str, answers: list[requests.Response], send_at: datetime
             ) -> dict[str, Any]:
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers if a.status_code >= 300]
    decisions = {}
    for answer in answers:
        body = answer.json()
        if "outcome" in body:
            decisions.setdefault(body["decision_id"], body["outcome"])
    situation = requests.get(f"{base}/v1/customers/{customer}", params={"at": iso(send_at)},
                             headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    situation.pop("customer_id")
    wait_projected(base)
    listed = requests.get(f"{base}/v1/decisions", params={"customer_id": customer, "limit": 100},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).json()["items"]
    return {"outcomes": Counter(decisions.values()), "recorded": Counter(d["outcome"] for d in listed),
            "situation": situation}


def test_concurrent_clients_end_as_the_same_requests_in_sequence(server_env: dict[str, str], served_db_url: str,
                                                                 servers: Callable[..., GuardServer]):
    token = make_key(served_db_url, "decide", "events", "read")
    server = servers(server_env, workers=2)
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    send_at = send_at.replace(hour=12)  # midday everywhere near Paris: quiet hours never matter

    concurrent = _all_at_once(server.url, token, _requests("conc-1", send_at))
    sequential = [_post(server.url, token, path, body) for path, body in _requests("seq-1", send_at)]

    together = _summary(server.url, token, "conc-1", concurrent, send_at)
    in_turn = _summary(server.url, token, "seq-1", sequential, send_at)
    assert in_turn["outcomes"] == Counter({"allow": 3, "defer": DECISIONS - 3})
    assert together == in_turn
