"""Two `guard serve` on different ports, one PostgreSQL: one service (situation, caps, rule version)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.faults.load import iso
from tests.faults.real import GuardServer, make_key

pytestmark = pytest.mark.slow

NO_WHATSAPP = """rules:
  - id: no-whatsapp-marketing
    description: Marketing never goes out on WhatsApp.
    when:
      - message.channel: whatsapp
      - message.purpose: marketing
    outcome: block
    explanation: No marketing on WhatsApp.
"""


@pytest.fixture
def pair(db_url: str, server_env: dict[str, str], servers: Callable[..., GuardServer]
         ) -> tuple[GuardServer, GuardServer]:
    """Two servers on the same fresh PostgreSQL database."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes on one PostgreSQL: runs with GUARD_TEST_DATABASE_URL")
    first = servers(server_env, workers=1, name="first")
    return first, servers(server_env, workers=1, name="second")


def test_two_instances_behave_as_one_service(pair: tuple[GuardServer, GuardServer], served_db_url: str):
    first, second = pair
    auth = {"Authorization": f"Bearer {make_key(served_db_url, 'admin')}"}
    send_at = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)

    # Shared situation: an event told to one is seen by the other (it happened an hour ago: the customer view
    # leaves out events dated in the future, so no fixed time of day works at every hour a suite runs).
    event = {"event_id": "two-1", "customer_id": "two-c1", "type": "complaint.opened",
             "occurred_at": iso(datetime.now(UTC) - timedelta(hours=1)), "data": {"case_id": "K-2"}}
    assert requests.post(f"{first.url}/v1/events", json=event, headers=auth, timeout=10).status_code == 201
    seen = requests.get(f"{second.url}/v1/customers/two-c1", headers=auth, timeout=10).json()
    assert [c["case_id"] for c in seen["open_complaints"]] == ["K-2"]

    # Shared caps: decisions alternate between the two; the fourth is deferred whoever answers it.
    body = {"customer_id": "two-c2", "channel": "email", "purpose": "marketing", "send_at": iso(send_at)}
    outcomes = [requests.post(f"{server.url}/v1/decisions", json=body, headers=auth, timeout=10).json()["outcome"]
                for server in (first, second, first, second)]
    assert outcomes == ["allow", "allow", "allow", "defer"]

    # Shared rule version: activated on one, served by the other within 2 s.
    active = requests.get(f"{first.url}/v1/rules/versions/1", headers=auth, timeout=10).json()
    files = [{"name": f["name"], "text": f["text"]} for f in active["files"]]
    created = requests.post(f"{first.url}/v1/rules/versions", headers=auth, timeout=30,
                            json={"files": [*files, {"name": "channels.yaml", "text": NO_WHATSAPP}],
                                  "message": "no whatsapp"})
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    activated = requests.post(f"{first.url}/v1/rules/activate", json={"version": number}, headers=auth, timeout=30)
    assert activated.status_code == 200, activated.text
    started = time.monotonic()
    whatsapp = {"customer_id": "two-c3", "channel": "whatsapp", "purpose": "marketing", "send_at": iso(send_at)}
    while True:
        answer = requests.post(f"{second.url}/v1/decisions", json=whatsapp, headers=auth, timeout=10).json()
        if answer["rules_version"] == number:
            break
        assert time.monotonic() - started < 2.0, "the other instance still serves the old version"
        time.sleep(0.05)
    assert answer["outcome"] == "block"
    assert answer["reasons"][0]["rule_id"] == "no-whatsapp-marketing"
    assert requests.get(f"{second.url}/v1/rules", headers=auth, timeout=10).json()["version"] == number
