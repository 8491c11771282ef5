"""`care.requested` through a real `guard serve` (gunicorn, two workers, each with its own engine and
group-commit queue): decisions racing over HTTP for one customer with an open complaint tell care once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from guard.storage.database import Database
from tests.conftest import RULES_DIR
from tests.faults.load import iso
from tests.faults.real import GuardServer, make_key

pytestmark = pytest.mark.slow




def _care_messages(url: str) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        with db.raw_reads() as sql:
            return [json.loads(b) for (b,) in sql.rows("SELECT body FROM outbox WHERE type = 'care.requested'")]
    finally:
        db.dispose()


def test_racing_decisions_through_two_workers_tell_care_once(served_db_url: str, tmp_path: Path):
    auth = {"Authorization": f"Bearer {make_key(served_db_url, 'decide', 'events', 'read')}"}
    env = {"GUARD_DATABASE_URL": served_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    opened = send_at - timedelta(days=2)
    with GuardServer(env, tmp_path, workers=2) as server:
        event = {"event_id": "care-1", "customer_id": "care-c1", "type": "complaint.opened",
                 "occurred_at": iso(opened), "data": {"case_id": "K-77"}}
        assert requests.post(f"{server.url}/v1/events", json=event, headers=auth, timeout=10).status_code == 201

        def body(n: int, **extra: Any) -> dict[str, Any]:
            return {"customer_id": "care-c1", "channel": "email", "purpose": "marketing", "send_at": iso(send_at),
                    "campaign_id": f"campaign-{n}", **extra}

        # Dry runs first: they answer reroute and tell nobody.
        dry = requests.post(f"{server.url}/v1/decisions", json=body(0, dry_run=True), headers=auth, timeout=10)
        assert dry.json()["outcome"] == "reroute"
        assert _care_messages(served_db_url) == []

        def send(n: int) -> list[dict[str, Any]]:
            if n % 3 == 0:
                answer = requests.post(f"{server.url}/v1/decisions/batch", headers=auth, timeout=30,
                                       json={"requests": [body(n), body(n + 100)]})
                assert answer.status_code == 200, answer.text
                return list(answer.json()["results"])
            answer = requests.post(f"{server.url}/v1/decisions", json=body(n), headers=auth, timeout=30)
            assert answer.status_code == 200, answer.text
            return [answer.json()]

        with ThreadPoolExecutor(8) as pool:
            answers = [a for got in pool.map(send, range(24)) for a in got]
        assert len(answers) == 32 and {a["outcome"] for a in answers} == {"reroute"}
        assert {a["route"] for a in answers} == {"care"}

    [message] = _care_messages(served_db_url)
    data = message["data"]
    assert data["decision_id"] in {a["decision_id"] for a in answers}
    assert (data["customer_id"], data["route"], data["rule_id"]) == ("care-c1", "care", "care-first")
    assert data["case"] == {"kind": "complaint", "id": "K-77", "opened_at": iso(opened)}
    assert data["campaign_id"].startswith("campaign-") and "K-77" in data["explanation"]
