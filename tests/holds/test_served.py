"""A real `guard serve`: a survey that accepts holds is held, and a resolution dated four days ago releases it
within seconds, with one `hold.released` in the outbox, across a restart of the server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from guard.storage.database import Database
from tests.conftest import RULES_DIR
from tests.faults.real import GuardServer, make_key


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _released(url: str) -> list[dict]:
    db = Database(url)
    try:
        with db.raw_reads() as sql:
            rows = sql.rows("SELECT body FROM outbox WHERE type = 'hold.released' ORDER BY id")
    finally:
        db.dispose()
    return [json.loads(r[0]) for r in rows]


@pytest.mark.slow
def test_a_held_survey_is_released_by_a_late_resolution(server_db_url: str, tmp_path: Path):
    token = make_key(server_db_url, "decide", "events", "read")
    auth = {"Authorization": f"Bearer {token}"}
    env = {"GUARD_DATABASE_URL": server_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}
    now = datetime.now(UTC)
    server = GuardServer(env, tmp_path, workers=2)
    with server:
        opened = {"event_id": "h-1", "customer_id": "srv-h1", "type": "complaint.opened",
                  "occurred_at": _iso(now - timedelta(days=6)), "data": {"case_id": "K-1"}}
        assert requests.post(f"{server.url}/v1/events", json=opened, headers=auth, timeout=10).status_code == 201
        answer = requests.post(f"{server.url}/v1/decisions", headers=auth, timeout=10, json={
            "customer_id": "srv-h1", "channel": "email", "purpose": "survey", "hold": True}).json()
        assert answer["outcome"] == "hold", answer
        hold_id = answer["hold"]["hold_id"]
        assert answer["hold"]["waiting_for"] == {"kind": "complaint", "case_id": "K-1", "then": "3d after it closes"}
    with server:  # restarted: the hold is in the database, not in a process
        resolved = {"event_id": "h-2", "customer_id": "srv-h1", "type": "complaint.resolved",
                    "occurred_at": _iso(now - timedelta(days=4)), "data": {"case_id": "K-1"}}
        assert requests.post(f"{server.url}/v1/events", json=resolved, headers=auth, timeout=10).status_code == 201
        deadline = time.monotonic() + 15
        while not _released(server_db_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        released = _released(server_db_url)
        assert len(released) == 1, server.log_text()[-3000:]
        data = released[0]["data"]
        assert data["hold_id"] == hold_id and data["outcome"] == "allow"
        assert data["decision"]["outcome"] == "allow" and data["decision"]["held_from"] == hold_id
        listed = requests.get(f"{server.url}/v1/holds", params={"customer_id": "srv-h1"}, headers=auth,
                              timeout=10).json()["items"]
        assert [(h["hold_id"], h["status"]) for h in listed] == [(hold_id, "released")]
        time.sleep(1.5)  # both workers keep polling: still exactly one release
        assert len(_released(server_db_url)) == 1
