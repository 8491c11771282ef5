"""A real `guard serve` spreading streams over helper processes: thousands of lines answered in input order
with poison lines their own errors and frequency caps exact across chunks; a helper killed mid-stream
costs no line and no hang."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.faults.real import make_key

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 10, 12, tzinfo=UTC)
POISON = '{"customer_id": "p", "channel": '


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _campaign(count: int) -> tuple[list[str], list[str | None]]:
    """Lines and the customer each answers for (None: poison): every fourth line is one of 300 customers
    met five times, hours apart (the fourth and fifth wait: three marketing messages a week)."""
    lines: list[str] = []
    customers: list[str | None] = []
    met: dict[str, int] = {}
    for i in range(count):
        if i % 997 == 500:
            lines.append(POISON)
            customers.append(None)
            continue
        customer = f"rep-{(i // 4) % 300}" if i % 4 == 0 else f"one-{i}"
        n = met[customer] = met.get(customer, -1) + 1
        lines.append(json.dumps({"customer_id": customer, "channel": "email", "purpose": "marketing",
                                 "send_at": _iso(START + timedelta(hours=n))}))
        customers.append(customer)
    return lines, customers


def _stream(base: str, token: str, lines: list[str]) -> requests.Response:
    return requests.post(f"{base}/v1/decisions/stream", data=("\n".join(lines) + "\n").encode(), timeout=300,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})


def test_a_spread_stream_answers_in_input_order_with_poison_and_caps(servers, server_env, served_db_url):
    token = make_key(served_db_url, "decide")
    server = servers({**server_env, "GUARD_STREAM_PROCESSES": "3"}, workers=1)
    lines, customers = _campaign(6000)
    answer = _stream(server.url, token, lines)
    assert answer.status_code == 200, answer.text[:500]
    results = [json.loads(line) for line in answer.text.splitlines()]
    assert [r["index"] for r in results] == list(range(len(lines)))
    assert [r.get("customer_id") for r in results] == customers
    assert all(results[i]["error"]["code"] == "malformed_json" for i, c in enumerate(customers) if c is None)
    outcomes: dict[str, list[str]] = {}
    for r in results:
        if "outcome" in r:
            outcomes.setdefault(r["customer_id"], []).append(r["outcome"])
    capped = [o for c, o in outcomes.items() if c.startswith("rep-")]
    assert all(o == ["allow"] * 3 + ["defer"] * (len(o) - 3) for o in capped)
    assert sum(len(o) == 5 for o in capped) >= 290  # a poison line stands in for a few of them
    assert {tuple(o) for c, o in outcomes.items() if c.startswith("one-")} == {("allow",)}
    assert "helper processes lost" not in server.log_text()
    assert len(_helpers_of(server.worker_pids()[0])) == 2


def _helpers_of(worker: int) -> list[int]:
    """The worker's helper processes (children of any of its threads, the resource tracker left out)."""
    helpers = []
    for children in Path(f"/proc/{worker}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                helpers.append(int(pid))
    return helpers


# Known defect of the opt-in helpers (GUARD_STREAM_PROCESSES, off by default): in one clean-clone CI run on
# PostgreSQL the stream did not finish within 240 s after its helper was killed (it passed in every other run,
# on both databases). Not yet explained; kept running so that it reports, not hidden.
def test_a_helper_killed_mid_stream_costs_no_line_and_no_hang(servers, server_env, served_db_url):
    token = make_key(served_db_url, "decide")
    server = servers({**server_env, "GUARD_STREAM_PROCESSES": "3"}, workers=1)
    lines = [json.dumps({"customer_id": f"c{i}", "channel": "email", "purpose": "marketing",
                         "send_at": _iso(START)}) for i in range(40_000)]
    answer: dict[str, Any] = {}
    sending = threading.Thread(target=lambda: answer.update(response=_stream(server.url, token, lines)))
    sending.start()
    [worker] = server.worker_pids()
    deadline = time.monotonic() + 60
    while not _helpers_of(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    helpers = _helpers_of(worker)
    assert helpers, "the stream started no helper"
    time.sleep(1.0)  # helpers busy with chunks
    os.kill(helpers[0], signal.SIGKILL)
    sending.join(240)
    assert not sending.is_alive(), "the stream hung after its helper died"
    response = answer["response"]
    assert response.status_code == 200, server.log_text()[-4000:]
    results = [json.loads(line) for line in response.text.splitlines()]
    assert [r["index"] for r in results] == list(range(len(lines)))
    assert all(r["outcome"] == "allow" for r in results)
    assert len({r["decision_id"] for r in results}) == len(lines)
    assert "helper processes lost" in server.log_text()


def test_helpers_leave_when_their_worker_is_killed(servers, server_env, served_db_url):
    token = make_key(served_db_url, "decide")
    server = servers({**server_env, "GUARD_STREAM_PROCESSES": "2"}, workers=1)
    lines, _ = _campaign(3000)
    assert _stream(server.url, token, lines).status_code == 200
    [worker] = server.worker_pids()
    helpers = _helpers_of(worker)
    assert len(helpers) == 1
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _running(helpers[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(helpers[0]), "a helper outlived its worker"


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
