"""One test per limit: body size, batch size, string lengths, number of rules, nesting depth, and how long a
request waits for a busy database."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest

from guard.app import Guard, RulesHolder
from guard.core.config import Settings
from guard.core.schemas import MAX_ID
from guard.decisions.service import MAX_BATCH
from guard.policy.evaluate import Evaluator
from guard.policy.parser import MAX_RULES
from guard.situation.history import lock_customers
from guard.situation.schemas import MAX_BATCH as MAX_EVENTS
from guard.storage.database import Database
from guard.storage.sql import Sql
from guard.web.factory import create_app
from tests.conftest import event
from tests.web.api.conftest import Api, decision_body


def _code(response: Any) -> str:
    return response.get_json()["error"]["code"]


def test_body_size(guard, make_key, count):
    app = create_app(guard, dataclasses.replace(guard.settings, max_body_bytes=1000))
    api = Api(app, make_key("admin"))
    before = count()
    response = api.post("/v1/events", json={"events": [event("big", "note", "2026-01-01T00:00:00Z", pad="x" * 2000)]})
    assert response.status_code == 413 and _code(response) == "payload_too_large"
    assert count() == before


def test_batch_size(api, count):
    before = count()
    events = [event(f"b{i}", "note", "2026-01-01T00:00:00Z") for i in range(MAX_EVENTS + 1)]
    assert api.post("/v1/events", json={"events": events}).status_code == 422
    message = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-02T12:00:00Z"}
    too_many = api.post("/v1/decisions/batch", json={"message": message, "customer_ids": ["c"] * (MAX_BATCH + 1)})
    assert too_many.status_code == 422 and _code(too_many) == "validation_failed"
    assert count() == before


def test_string_lengths(api, count):
    before = count()
    assert api.post("/v1/decisions", json=decision_body("c" * (MAX_ID + 1))).status_code == 422
    assert api.post("/v1/decisions", json=decision_body(idempotency_key="k" * (MAX_ID + 1))).status_code == 422
    assert api.post("/v1/events", json=event("c1", "note", "2026-01-01T00:00:00Z", "e" * (MAX_ID + 1))
                    ).status_code == 422
    assert api.post("/v1/decisions", json=decision_body("c" * MAX_ID)).status_code == 200
    assert count()["decisions"] == before["decisions"] + 1


def test_number_of_rules(api):
    rule = ("  - id: r{n}\n    description: d\n    when:\n      - message.channel: sms\n"
            "    outcome: block\n    explanation: e\n")
    body = "rules:\n" + "".join(rule.format(n=n) for n in range(MAX_RULES + 1))
    response = api.post("/v1/rules/validate", data=body, content_type="application/yaml")
    assert response.status_code == 422
    assert any(f"more than {MAX_RULES} rules" in e["message"] for e in response.get_json()["errors"])


@pytest.mark.parametrize("depth", [50, 900, 100_000])
def test_nesting_depth(api, count, depth):
    nested: Any = "leaf"
    for _ in range(min(depth, 900)):
        nested = {"a": nested}
    before = count()
    if depth > 900:
        response = api.post("/v1/events", data=b'{"data": ' + b"[" * depth + b"]" * depth + b"}",
                            content_type="application/json")
        assert response.status_code == 400 and _code(response) == "malformed_json"
    else:
        response = api.post("/v1/events", json=event("deep", "note", "2026-01-01T00:00:00Z", f"deep-{depth}",
                                                       payload=nested))
        assert response.status_code in (201, 422), response.get_json()
        if response.status_code == 422:
            assert count() == before


@pytest.fixture
def impatient(committed_db: Database, starter_evaluator: Evaluator) -> Guard:
    """A Guard on a committed database that waits at most one second for it."""
    db = Database(committed_db.url, timeout=1)
    yield Guard(Settings(database_url=committed_db.url, db_timeout=1), db=db,
                rules=RulesHolder(starter_evaluator))
    db.dispose()


def test_a_request_waits_for_a_busy_database_only_so_long(impatient, committed_db):
    """Another writer holds the lock: the request gives up after GUARD_DB_TIMEOUT with a 503, not never."""
    from guard.auth.keys import create_key

    with impatient.db.transaction() as session:
        _, token = create_key(session, "impatient", ["admin"])
    client = create_app(impatient).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with committed_db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("COMMIT")  # leave the driver's own transaction to take the write lock
                conn.exec_driver_sql("BEGIN EXCLUSIVE")
            else:  # the lock a decision for this customer takes first
                lock_customers(Sql(conn.connection.driver_connection, "postgresql"), {"busy-c1"})
            held.set()
            release.wait(30)
            conn.rollback()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        response = client.post("/v1/decisions", json=decision_body("busy-c1"), headers=auth)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "service_unavailable"
    assert response.headers["Retry-After"]
    assert 0.5 < waited < 8
    assert client.post("/v1/decisions", json=decision_body("busy-c1"), headers=auth).status_code == 200
