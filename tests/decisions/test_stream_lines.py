"""`POST /v1/decisions/stream` reads every line as a single decision's body is read: a bad line answers with
its own error record and the stream goes on; an overlong line or stream is refused cleanly; a retried stream
with per-line idempotency keys decides nothing twice."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from guard.core.strictjson import MAX_LINE_BYTES
from tests.decisions.conftest import api_client, decision_count

GOOD = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
NDJSON = "application/x-ndjson"


@pytest.fixture
def api(guard):
    return api_client(guard)


def _line(customer: str, **fields) -> str:
    return json.dumps({**GOOD, "customer_id": customer, **fields})


def _results(response):
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


BAD_LINES = {
    "infinity": ('{"customer_id": "inf", "channel": "email", "purpose": "marketing", "attributes": {"x": Infinity}}',
                 "malformed_json"),
    "nan": ('{"customer_id": "nan", "channel": "email", "purpose": "marketing", "attributes": {"x": NaN}}',
            "malformed_json"),
    "overflow": ('{"customer_id": "big", "channel": "email", "purpose": "marketing", "attributes": {"x": 1e999}}',
                 "malformed_json"),
    "nul": (_line("nul\x00x"), "validation_failed"),  # written as \u0000 by json.dumps
    "surrogate": (_line("lone\ud800"), "validation_failed"),
    "huge_integer": (_line("huge", attributes={"n": 10**400}), "validation_failed"),
    "not_utf8": (b'{"customer_id": "\xff"}'.decode("latin-1"), "malformed_json"),
}


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_a_bad_line_is_its_own_error_record_and_the_stream_goes_on(api, guard, name):
    text, code = BAD_LINES[name]
    lines = [_line(f"c{i}") for i in range(6)]
    lines.insert(3, text)
    body = ("\n".join(lines) + "\n").encode("latin-1" if name == "not_utf8" else "utf-8")
    response = api.post("/v1/decisions/stream", data=body, content_type=NDJSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    results = _results(response)
    assert [r["index"] for r in results] == list(range(7))
    assert results[3]["error"]["code"] == code and results[3]["error"]["details"].get("line", 4) == 4
    assert [r.get("outcome") for i, r in enumerate(results) if i != 3] == ["allow"] * 6
    assert decision_count(guard.db) == 6


def test_a_bad_line_in_a_later_chunk_fails_neither_its_chunk_nor_the_response(api, guard):
    lines = [_line(f"c{i}") for i in range(2100)]  # two chunks of the stream
    lines[2050] = _line("poison", attributes={"n": 10**400})
    response = api.post("/v1/decisions/stream", data="\n".join(lines), content_type=NDJSON)
    assert response.status_code == 200
    results = _results(response)
    assert len(results) == 2100 and results[2050]["error"]["code"] == "validation_failed"
    assert sum("decision_id" in r for r in results) == 2099
    assert decision_count(guard.db) == 2099


def test_a_line_over_the_limit_is_refused_and_the_stream_goes_on(api, guard):
    overlong = _line("long", campaign_id="x" * (MAX_LINE_BYTES + 10))
    body = "\n".join([_line("a"), overlong, _line("b")]) + "\n"
    response = api.post("/v1/decisions/stream", data=body, content_type=NDJSON)
    assert response.status_code == 200
    results = _results(response)
    assert [r["index"] for r in results] == [0, 1, 2]
    assert results[1]["error"]["code"] == "payload_too_large"
    assert results[1]["error"]["details"] == {"line": 2, "max_bytes": MAX_LINE_BYTES}
    assert results[0]["outcome"] == results[2]["outcome"] == "allow"
    assert decision_count(guard.db) == 2


def test_a_stream_declared_longer_than_the_limit_is_413_before_anything_is_decided(guard):
    guard.settings = replace(guard.settings, max_stream_bytes=1000)
    body = "\n".join(_line(f"c{i}") for i in range(30)) + "\n"
    response = api_client(guard).post("/v1/decisions/stream", data=body, content_type=NDJSON)
    assert response.status_code == 413
    assert response.get_json()["error"] == {
        "code": "payload_too_large", "details": {"max_bytes": 1000},
        "message": "The stream is longer than 1000 bytes (GUARD_MAX_STREAM_BYTES)."}
    assert decision_count(guard.db) == 0


def test_a_chunked_stream_past_the_limit_ends_with_a_record_saying_where_it_stopped(guard):
    lines = [_line(f"c{i:02d}") for i in range(30)]
    size = len(lines[0]) + 1
    guard.settings = replace(guard.settings, max_stream_bytes=size * 10 + size // 2)
    body = ("\n".join(lines) + "\n").encode()
    # No Content-Length: the length is only found by reading, as with Transfer-Encoding: chunked.
    response = api_client(guard).post("/v1/decisions/stream", input_stream=io.BytesIO(body), content_type=NDJSON,
                                   environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""})
    assert response.status_code == 200
    results = _results(response)
    assert [r.get("outcome") for r in results[:10]] == ["allow"] * 10
    assert results[10]["index"] == 10 and results[10]["error"]["code"] == "payload_too_large"
    assert results[10]["error"]["details"]["line"] == 11
    assert len(results) == 11
    assert decision_count(guard.db) == 10


def test_a_retried_stream_with_idempotency_keys_decides_nothing_twice(api, guard):
    lines = [_line(f"c{i % 3}", idempotency_key=f"spring-{i}") for i in range(12)]
    lines.insert(5, "{broken")
    body = "\n".join(lines) + "\n"
    first = _results(api.post("/v1/decisions/stream", data=body, content_type=NDJSON))
    again = _results(api.post("/v1/decisions/stream", data=body, content_type=NDJSON))
    assert again == first
    assert [r["error"]["code"] for r in first if "error" in r] == ["malformed_json"]
    # Three customers, four marketing sends each: the frequency cap counted each decision once.
    assert sorted(r["outcome"] for r in first if "outcome" in r) == ["allow"] * 9 + ["defer"] * 3
    assert decision_count(guard.db) == 12
