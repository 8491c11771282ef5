"""A served Guard stays bounded under hostile traffic: metric series, cache memory, dry-run compiles."""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from guard.core.schemas import MAX_ATTRIBUTES, MAX_ID, MAX_LIST, MAX_TEXT
from tests.faults.real import GuardServer, make_key

pytestmark = pytest.mark.slow


def test_unknown_http_methods_fold_into_one_metric_label(server_env: dict[str, str],
                                                        servers: Callable[..., GuardServer]):
    server = servers(server_env, workers=1)
    for i in range(200):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request(f"ZZ{i}", "/v1/decisions")
        conn.getresponse().read()
        conn.close()
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    methods = set(re.findall(r'guard_http_request_duration_seconds_count\{method="([^"]*)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert not any(m.startswith("ZZ") for m in methods)


def _rss(pid: int) -> int:
    """Resident memory of a process in bytes (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _largest_dry_run(i: int) -> dict[str, object]:
    """A dry run as large as the schema allows, distinct from every other `i`."""
    return {
        "customer_id": f"rss-{i}", "channel": "email", "purpose": "marketing", "dry_run": True,
        "campaign_id": f"{i:08d}".ljust(MAX_ID, "c"),
        "product_ids": [f"{i:08d}-{p:03d}".ljust(MAX_ID, "p") for p in range(MAX_LIST)],
        "attributes": {f"a{n}": f"{i:08d}-{n:02d}".ljust(MAX_TEXT, "v") for n in range(MAX_ATTRIBUTES)},
    }


def test_distinct_largest_dry_runs_do_not_grow_a_worker(server_env: dict[str, str], served_db_url: str,
                                                        servers: Callable[..., GuardServer]):
    token = make_key(served_db_url, "decide")
    server = servers(server_env, workers=1)
    [worker] = server.worker_pids()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def send(numbers: range) -> None:
        for i in numbers:
            response = session.post(f"{server.url}/v1/decisions", json=_largest_dry_run(i), timeout=30)
            assert response.status_code == 200, response.text[:500]
            assert response.json()["dry_run"] is True

    send(range(100))  # warm up: code paths, allocator arenas, connection pools
    before = _rss(worker)
    send(range(100, 700))
    grown = _rss(worker) - before
    # Each such request is ~70 KB; kept by count alone (4,096 shapes, verdicts and engine answers each),
    # 600 of them held ~170 MB. Bounded by bytes, what stays is a few MiB.
    assert grown < 40 * 1024 * 1024, f"the worker grew by {grown / 2**20:.0f} MiB"
