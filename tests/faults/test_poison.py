"""A real server under load from good clients and a client looping poison requests: every good request is
answered 200, every poison one 422; a batch or a stream holding poison answers 200 with its own error."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.faults.real import GuardServer, make_key

pytestmark = pytest.mark.slow

CLIENTS = 8
EACH = 100
MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
POISON = {**MESSAGE, "customer_id": "poison", "attributes": {"n": 10**400}}  # a 401-digit integer
STREAM_LIMIT = 50_000


@pytest.fixture
def served(servers: Callable[..., GuardServer], server_env: dict[str, str]) -> tuple[str, str]:
    token = make_key(server_env["GUARD_DATABASE_URL"], "decide", "read")
    server = servers({**server_env, "GUARD_MAX_STREAM_BYTES": str(STREAM_LIMIT)}, workers=2)
    return server.url, token


def test_good_clients_beside_a_poison_loop_get_no_500(served):
    base, token = served
    headers = {"Authorization": f"Bearer {token}"}
    good: Counter[int] = Counter()
    poison: Counter[int] = Counter()
    lock = threading.Lock()
    done = threading.Event()

    def client(n: int) -> None:
        with requests.Session() as session:
            for i in range(EACH):
                answer = session.post(f"{base}/v1/decisions", json={**MESSAGE, "customer_id": f"c{n}-{i}"},
                                      headers=headers, timeout=60)
                with lock:
                    good[answer.status_code] += 1

    def poisoner() -> None:
        with requests.Session() as session:
            while not done.is_set():
                answer = session.post(f"{base}/v1/decisions", json=POISON, headers=headers, timeout=60)
                with lock:
                    poison[answer.status_code] += 1

    poisoners = [threading.Thread(target=poisoner) for _ in range(2)]
    clients = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in poisoners + clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=300)
    done.set()
    for thread in poisoners:
        thread.join(timeout=60)
    assert good == {200: CLIENTS * EACH}
    assert set(poison) == {422} and poison[422] > 0
    listed = requests.get(f"{base}/v1/decisions", params={"customer_id": "c0-0"}, headers=headers, timeout=30)
    assert len(listed.json()["items"]) == 1


def test_a_batch_and_a_stream_with_poison_answer_200_with_its_own_error(served):
    base, token = served
    headers = {"Authorization": f"Bearer {token}"}
    batch = [{**MESSAGE, "customer_id": f"b{i}"} for i in range(5)]
    batch.insert(3, POISON)
    answer = requests.post(f"{base}/v1/decisions/batch", json={"requests": batch}, headers=headers, timeout=60)
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert results[3]["error"]["code"] == "validation_failed"
    assert [r["outcome"] for i, r in enumerate(results) if i != 3] == ["allow"] * 5

    lines = [json.dumps({**MESSAGE, "customer_id": f"s{i}"}) for i in range(5)]
    lines[1] = json.dumps(POISON)
    lines[2] = '{"customer_id": "x", "channel": "email", "purpose": "marketing", "attributes": {"x": Infinity}}'
    answer = requests.post(f"{base}/v1/decisions/stream", data="\n".join(lines) + "\n", timeout=60,
                           headers={**headers, "Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200
    results = [json.loads(line) for line in answer.text.splitlines()]
    assert [r.get("error", {}).get("code") for r in results] == [None, "validation_failed", "malformed_json", None,
                                                                 None]


def test_a_stream_over_the_configured_limit_is_refused_cleanly(served):
    base, token = served
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    lines = [json.dumps({**MESSAGE, "customer_id": f"long-{i:05d}"}) + "\n" for i in range(1000)]
    per_line = len(lines[0])
    answer = requests.post(f"{base}/v1/decisions/stream", data="".join(lines), headers=headers, timeout=60)
    assert answer.status_code == 413 and answer.json()["error"]["details"] == {"max_bytes": STREAM_LIMIT}

    def chunked() -> Iterator[bytes]:  # a generator body is sent with Transfer-Encoding: chunked
        for line in lines:
            yield line.encode()

    answer = requests.post(f"{base}/v1/decisions/stream", data=chunked(), headers=headers, timeout=60)
    assert answer.status_code == 200
    results = [json.loads(line) for line in answer.text.splitlines()]
    read = STREAM_LIMIT // per_line
    assert all("decision_id" in r for r in results[:read])
    assert results[read]["error"]["code"] == "payload_too_large" and len(results) == read + 1
    listed = requests.get(f"{base}/v1/decisions", params={"customer_id": f"long-{read:05d}"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert listed.json()["items"] == []
