"""Hardening through the HTTP layer: security headers, request ids, rate limits, metrics, fail-safe advice,
keys at rest and in logs, and no internals in error bodies."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid

import pytest
from flask import Flask
from sqlalchemy import select, text

from guard.app import Guard, RulesHolder
from guard.core.config import DEFAULT_FAILSAFE, Settings
from guard.policy.evaluate import Evaluator
from guard.storage.database import Database
from guard.storage.tables.auth import ApiKey
from guard.web.factory import create_app
from guard.web.shared.observability import SECURITY_HEADERS
from tests.web.api.conftest import Api, decision_body

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


def _app(guard: Guard, **changes: object) -> Flask:
    app = create_app(guard, dataclasses.replace(guard.settings, **changes))
    app.testing = True
    return app


def test_every_page_and_error_carries_the_security_headers(app, make_key):
    client = app.test_client()
    token = make_key("admin")
    pages = [r.rule for r in app.url_map.iter_rules() if "GET" in (r.methods or ()) and "<" not in r.rule]
    for path in [*pages, "/no-such-page", "/v1/decisions/nope"]:
        for auth in ({}, {"Authorization": f"Bearer {token}"}):
            response = client.get(path, headers=auth)
            for name in HEADERS:
                assert response.headers.get(name), (path, name)
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_request_ids_are_echoed_or_made(api):
    given = api.get("/healthz", headers={"X-Request-ID": "crm-42.a"})
    assert given.headers["X-Request-ID"] == "crm-42.a"
    for hostile in ("a\u00e9b", "x" * 129, "a b", ""):
        made = api.get("/healthz", headers={"X-Request-ID": hostile})
        assert made.headers["X-Request-ID"] != hostile
        assert len(made.headers["X-Request-ID"]) == 32
    assert api.get("/healthz").headers["X-Request-ID"] != api.get("/healthz").headers["X-Request-ID"]


def test_rate_limit_per_key_answers_429_with_retry_after(guard, make_key):
    app = _app(guard, rate_limit="3/minute")
    first, second = Api(app, make_key("read")), Api(app, make_key("read"))
    first_key = {"Authorization": f"Bearer {first.token}"}
    assert [first.get("/v1/rules").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/v1/rules")
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert second.get("/v1/rules").status_code == 200  # another key has its own budget
    assert first.get("/healthz").status_code == 200  # probes are never throttled
    assert first.client.get("/metrics").status_code == 200
    # The reference page's files are not API use; the description itself is counted like any request.
    assert first.client.get("/docs/assets/swagger-ui-bundle.js", headers=first_key).status_code == 200
    assert first.client.get("/openapi.json", headers=first_key).status_code == 429


def test_rate_limit_counts_are_shared_through_redis(guard, make_key):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    token = make_key("read")
    # Two apps stand for two workers (or hosts): one budget between them.
    apps = [_app(guard, rate_limit="4/minute", rate_limit_storage="redis://127.0.0.1:6379/0") for _ in range(2)]
    statuses = [Api(apps[i % 2], token).get("/v1/rules").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


def test_rate_limit_setting_is_checked():
    with pytest.raises(SystemExit):
        Settings.from_env({"GUARD_RATE_LIMIT": "a lot"})
    assert Settings.from_env({"GUARD_RATE_LIMIT": "100/second"}).rate_limit == "100/second"


def test_metrics_count_decisions_events_errors_and_latency(api):
    api.decide(**decision_body("metrics-c1", purpose="transactional"))
    api.post("/v1/events", json={"event_id": f"m-{uuid.uuid4().hex}", "customer_id": "metrics-c1",
                                 "type": "note", "occurred_at": "2026-01-01T00:00:00Z"})
    api.get("/v1/decisions/nope")
    text_ = api.client.get("/metrics").get_data(as_text=True)
    assert 'guard_decisions_total{outcome="allow",rule="exempt-transactional"}' in text_
    assert 'guard_events_ingested_total{status="created"}' in text_
    assert 'guard_http_errors_total{code="not_found",status="404"}' in text_
    assert 'guard_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/decisions"' in text_


def test_metrics_token_when_set(guard):
    client = _app(guard, metrics_token="scrape-me").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200


def test_failsafe_advice_is_served_and_configurable(guard, make_key):
    answer = Api(_app(guard), make_key("decide")).get("/v1/policy/failsafe").get_json()
    assert answer["when_unreachable"] == DEFAULT_FAILSAFE
    assert answer["fail_closed"] == ["marketing", "survey"]
    changed = Settings.from_env({"GUARD_FAILSAFE": "service=closed, marketing=closed"}).failsafe
    app = _app(guard, failsafe=changed)
    assert Api(app, make_key("decide")).get("/v1/policy/failsafe").get_json()["fail_closed"] == [
        "marketing", "service", "survey"]
    with pytest.raises(SystemExit):
        Settings.from_env({"GUARD_FAILSAFE": "marketing=maybe"})


def test_keys_are_hashed_at_rest(guard, make_key):
    token = make_key("read", name="at-rest")
    with guard.db.sessions() as session:
        key = session.scalars(select(ApiKey).where(ApiKey.name == "at-rest")).one()
        row = session.execute(text("SELECT * FROM api_keys WHERE name = 'at-rest'")).one()
    assert key.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in row)
    assert key.prefix == token[:10] and len(token) > 40


def test_keys_never_reach_the_logs(api, make_key, caplog):
    caplog.set_level(logging.DEBUG)
    good, revoked = make_key("decide", "read"), make_key("admin", revoked=True)
    wrong = "gk_" + uuid.uuid4().hex + uuid.uuid4().hex
    for token in (good, revoked, wrong):
        api.post("/v1/decisions", token=token, json=decision_body("logs-c1"))
        api.post("/v1/decisions", token=token, data=b"{broken", content_type="application/json")
        api.get("/v1/decisions/nope", token=token)
    for token in (good, revoked, wrong):
        assert token not in caplog.text
        assert token[3:] not in caplog.text


@pytest.fixture
def broken_guard(committed_db: Database, starter_evaluator: Evaluator) -> Guard:
    """A Guard whose database lost a table under it."""
    with committed_db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE events")
    return Guard(Settings(database_url=committed_db.url), db=committed_db, rules=RulesHolder(starter_evaluator))


def test_database_errors_show_no_stack_trace_or_sql(broken_guard, caplog):
    from guard.auth.keys import create_key

    with broken_guard.db.transaction() as session:
        _, token = create_key(session, "broken", ["admin"])
    app = create_app(broken_guard)
    response = app.test_client().post("/v1/decisions", json=decision_body("broken-c1", purpose="legal"),
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (500, 503)
    body = response.get_data(as_text=True)
    assert set(response.get_json()["error"]) == {"code", "message", "details"}
    for leak in ("Traceback", "INSERT", "SELECT", "FROM events", "sqlalchemy", "psycopg", "sqlite", "File \""):
        assert leak.lower() not in body.lower(), leak
    for name in SECURITY_HEADERS:
        assert response.headers[name]


def test_version_numbers_beyond_the_database_integer_are_not_found(api):
    """Found by schemathesis: these were 500s (the driver refuses to bind such integers)."""
    huge = 2**70
    assert api.get(f"/v1/rules/versions/{huge}").status_code == 404
    assert api.get(f"/v1/rules/versions/{huge}/diff/1").status_code == 404
    assert api.post("/v1/rules/activate", json={"version": huge}).status_code in (404, 422)
    assert api.post("/v1/rules/rollback", json={"to": huge}).status_code in (404, 422)
