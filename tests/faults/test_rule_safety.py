"""A served Guard stays bounded under hostile traffic: metric series, cache memory, dry-run compiles."""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable

import pytest
import requests

from tests.faults.real import GuardServer

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
