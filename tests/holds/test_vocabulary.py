"""`hold` is an outcome wherever outcomes are listed: filters, statistics, the console's overview."""

from __future__ import annotations

from typing import Any

from guard.app import Guard
from guard.decisions import stats
from tests.holds.conftest import api_client, at, post_event, survey


def test_decisions_filter_and_count_holds(guard: Guard):
    client: Any = api_client(guard)
    post_event(client, "ann", "complaint.opened", at(-1), case_id="C-1")
    held = client.post("/v1/decisions", json=survey("ann")).get_json()
    client.post("/v1/decisions", json=survey("bob"))
    listed = client.get("/v1/decisions?outcome=hold").get_json()["items"]
    assert [d["decision_id"] for d in listed] == [held["decision_id"]]
    assert listed[0]["hold"] == held["hold"]
    with guard.db.sessions() as session:
        assert stats.overview(session, "24h")["totals"] == {"hold": 1, "allow": 1}
