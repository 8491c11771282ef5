"""Backtest jobs: a failure tells what happened without SQL or data; ids that are not job ids are 404s."""

from __future__ import annotations

import time

import pytest

from guard.policy.parser import read_directory
from tests.conftest import RULES_DIR
from tests.lifecycle.test_http import VIP, _client


def _wait(admin, href: str) -> dict:
    deadline = time.monotonic() + 20
    while (state := admin.get(href).get_json())["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    return state


def test_a_failed_job_reports_no_sql_and_no_parameters(committed_guard, caplog):
    admin = _client(committed_guard, "alice", "admin")
    assert admin.post("/v1/decisions", json=VIP).status_code == 200
    # The job counts the decisions, then fails reading the customers' events: a database error with SQL in it.
    with committed_guard.db.transaction() as session:
        session.connection().exec_driver_sql("DROP TABLE events")
    files = [{"name": s.name, "text": s.text} for s in read_directory(RULES_DIR)]
    started = admin.post("/v1/rules/backtest", json={"files": files, "background": True})
    assert started.status_code == 202, started.get_json()
    state = _wait(admin, started.get_json()["href"])
    assert state["status"] == "failed"
    job_id = started.get_json()["job_id"]
    assert state["error"] == (f"The backtest failed unexpectedly; the server log has the details under job "
                              f"{job_id}.")
    for leak in ("SELECT", "events", "c-9", "[parameters"):
        assert leak not in state["error"]
    assert any(job_id in r.getMessage() and r.exc_info for r in caplog.records)  # the details are logged


@pytest.mark.parametrize("job_id", ["%00", "a%00b", "00000000-0000-0000-0000-00000000000%00", "nope",
                                    "00000000-0000-0000-0000-000000000000"])
def test_ids_that_name_no_job_are_404(live_guard, job_id):
    admin = _client(live_guard, "alice", "admin")
    response = admin.get(f"/v1/rules/backtest/{job_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"

