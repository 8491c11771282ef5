"""Issue 15 "Done when": a real `guard serve`, a real HTTP receiver on loopback, both events end to end.

A subscription for `care.requested` and `hold.released`; `complaint.opened`; two marketing decisions give two
reroutes and exactly one `care.requested` delivered with a valid Standard Webhooks signature; a survey with
`"hold": true` is held; `complaint.resolved` dated 4 days ago releases it (`hold.released`, outcome allow)
within seconds; the receiver fails its first two attempts and still gets every message once it answers 200;
a restart of `guard serve` in between loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import RULES_DIR
from tests.faults.load import iso
from tests.faults.real import GuardServer, guard_command, make_key

pytestmark = pytest.mark.slow

SECRET = "whsec_" + base64.b64encode(b"care-first-acceptance-secret-32b").decode()
FAILURES = 2  # the receiver answers 503 to this many attempts before it answers 200


class Receiver:
    """An HTTP receiver on loopback that records every attempt and fails the first ones."""

    def __init__(self) -> None:
        self.attempts: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    failing = len(receiver.attempts) < FAILURES
                    receiver.attempts.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "answered": 503 if failing else 200})
                self.send_response(503 if failing else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def delivered(self, event_type: str) -> list[dict[str, Any]]:
        """The messages of a type answered 200, parsed, each with its headers."""
        with self.lock:
            done = [a for a in self.attempts if a["answered"] == 200]
        out = []
        for attempt in done:
            message = json.loads(attempt["body"])
            if message["type"] == event_type:
                out.append({**message, "_headers": attempt["headers"], "_body": attempt["body"]})
        return out

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.delivered(event_type)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{event_type} not delivered within {timeout} s; attempts: {self.attempts}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()




def signature_valid(message: dict[str, Any]) -> bool:
    """Standard Webhooks: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the secret (the raw
    text, or its base64 part when written `whsec_...`)."""
    headers = message["_headers"]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + message["_body"]
    keys = [SECRET.encode()]
    if SECRET.startswith("whsec_"):
        keys.append(base64.b64decode(SECRET.removeprefix("whsec_")))
    expected = {"v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys}
    return any(part in expected for part in headers["webhook-signature"].split())


def test_care_first_for_real(served_db_url: str, tmp_path: Path, receiver: Receiver):
    auth = {"Authorization": f"Bearer {make_key(served_db_url, 'decide', 'events', 'read')}"}
    env = {"GUARD_DATABASE_URL": served_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}
    added = subprocess.run([*guard_command(), "webhooks", "add", receiver.url, "--event", "care.requested",
                            "--event", "hold.released", "--secret", SECRET],
                           env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    now = datetime.now(UTC).replace(microsecond=0)
    server = GuardServer(env, tmp_path, workers=2).start()
    try:
        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = requests.post(f"{server.url}{path}", json=body, headers=auth, timeout=30)
            assert answer.status_code in (200, 201), answer.text
            return dict(answer.json())

        post("/v1/events", {"event_id": "acc-open", "customer_id": "acc-1", "type": "complaint.opened",
                            "occurred_at": iso(now - timedelta(days=6)), "data": {"case_id": "K-1"}})
        marketing = {"customer_id": "acc-1", "channel": "email", "purpose": "marketing"}
        first = post("/v1/decisions", {**marketing, "campaign_id": "spring"})
        second = post("/v1/decisions", {**marketing, "campaign_id": "summer"})
        assert (first["outcome"], second["outcome"]) == ("reroute", "reroute")

        # The receiver fails the first attempts; Guard restarts meanwhile: the message is not lost.
        deadline = time.monotonic() + 30
        while not receiver.attempts and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.attempts, "no delivery attempt within 30 s"
        server.stop()
        server = GuardServer(env, tmp_path, workers=2, port=server.port).start()

        [care] = receiver.wait_for("care.requested")
        assert signature_valid(care)
        assert care["data"]["customer_id"] == "acc-1" and care["data"]["route"] == "care"
        assert care["data"]["rule_id"] == "care-first" and care["data"]["decision_id"] == first["decision_id"]
        assert care["data"]["case"] == {"kind": "complaint", "id": "K-1", "opened_at": iso(now - timedelta(days=6))}
        assert care["data"]["campaign_id"] == "spring"

        survey = post("/v1/decisions", {"customer_id": "acc-1", "channel": "email", "purpose": "survey",
                                        "hold": True})
        assert survey["outcome"] == "hold"
        waiting = survey["hold"]["waiting_for"]
        assert (waiting["kind"], waiting["case_id"]) == ("complaint", "K-1")

        post("/v1/events", {"event_id": "acc-resolved", "customer_id": "acc-1", "type": "complaint.resolved",
                            "occurred_at": iso(now - timedelta(days=4)), "data": {"case_id": "K-1"}})
        [released] = receiver.wait_for("hold.released", timeout=30)
        assert signature_valid(released)
        decision = released["data"].get("decision", released["data"])
        assert decision["outcome"] == "allow"

        time.sleep(2)  # nothing arrives twice (a repeat would carry the same webhook-id)
        ids = [m["_headers"]["webhook-id"] for t in ("care.requested", "hold.released") for m in receiver.delivered(t)]
        assert len(ids) == len(set(ids)) == 2
        assert len(receiver.delivered("care.requested")) == 1
    finally:
        server.stop()
