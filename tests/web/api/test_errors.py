"""One error shape for every failure: malformed bodies, wrong media types, sizes, routes, bugs and outages."""

from __future__ import annotations

import logging

import pytest

from guard.app import Guard, RulesHolder
from guard.core.config import Settings
from guard.storage.database import Database
from guard.web.factory import create_app
from tests.web.api.conftest import Api, decision_body

POSTS = ["/v1/decisions", "/v1/events", "/v1/rules/validate"]
MALFORMED = [
    b"",
    b"{",
    b'{"customer_id": "c1",}',
    b"NaN",
    b'{"customer_id": "c1", "channel": "email", "purpose": "marketing", "attributes": {"x": NaN}}',
    b'{"attributes": {"x": Infinity}}',
    b'{"attributes": {"x": -Infinity}}',
    b'{"attributes": {"x": 1e999}}',
    b'{"customer_id": "\xff\xfe"}',
    b"[" * 100_000 + b"]" * 100_000,
    b"\xef\xbb\xbf{}",
]


def error(response) -> dict:
    return response.get_json()["error"]


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_json_is_400(api, count, path, body):
    before = count()
    response = api.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert error(response)["code"] == "malformed_json"
    assert count() == before


def test_malformed_json_names_the_position(api):
    response = api.post("/v1/decisions", data=b'{"a": 1,\n "b": }', content_type="application/json")
    assert "line 2" in error(response)["details"]["reason"]


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/events"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/yaml", None])
def test_a_body_not_declared_as_json_is_415(api, count, path, content_type):
    before = count()
    kwargs = {"content_type": content_type} if content_type else {}
    response = api.post(path, data=b'{"customer_id": "c1"}', **kwargs)
    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"
    assert count() == before


def test_json_with_a_charset_is_json(api):
    response = api.post("/v1/decisions", data=b'{"customer_id": "c1", "channel": "email", "purpose": "service"}',
                        content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_rules_validate_refuses_other_media_types(api):
    response = api.post("/v1/rules/validate", data=b"rules: []", content_type="application/octet-stream")
    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"


@pytest.fixture
def small(guard):
    """An app that accepts bodies of at most 300 bytes."""
    app = create_app(guard, Settings(database_url=guard.settings.database_url, max_body_bytes=300))
    return app


@pytest.mark.parametrize("path", POSTS)
def test_a_body_over_the_limit_is_413(small, make_key, count, path):
    client = Api(small, make_key("admin"))
    before = count()
    body = decision_body(attributes={"note": "x" * 400})
    response = client.post(path, json=body)
    assert response.status_code == 413
    assert error(response)["code"] == "payload_too_large"
    assert error(response)["details"] == {"max_bytes": 300}
    assert count() == before


def test_a_body_under_the_limit_passes(small, make_key):
    client = Api(small, make_key("admin"))
    assert client.post("/v1/decisions", json=decision_body()).status_code == 200


def test_the_limit_comes_from_settings(guard):
    assert create_app(guard).config["MAX_CONTENT_LENGTH"] == guard.settings.max_body_bytes
    env = Settings.from_env({"GUARD_MAX_BODY_BYTES": "1234", "GUARD_DATABASE_URL": guard.settings.database_url})
    assert create_app(guard, env).config["MAX_CONTENT_LENGTH"] == 1234


@pytest.mark.parametrize("path", ["/v1/nothing", "/nothing", "/v1/decisions/", "/v1/customers/c1/nothing"])
def test_unknown_routes_are_404_in_the_error_shape(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/v1/decisions"), ("PUT", "/v1/events"),
                                              ("GET", "/v1/events"), ("POST", "/v1/rules"),
                                              ("GET", "/v1/rules/validate"), ("POST", "/healthz")])
def test_wrong_methods_are_405_with_allow(api, method, path):
    response = api.request(method, path)
    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"
    assert response.headers["Allow"]


@pytest.mark.parametrize("body", [
    decision_body(customer_id="c\x00"),
    decision_body(campaign_id="\ud800"),
    decision_body(attributes={"note\x00": "x"}),
])
def test_text_a_database_cannot_store_is_422(api, count, body):
    before = count()
    response = api.post("/v1/decisions", data=_dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert error(response)["code"] == "validation_failed"
    assert count() == before


def _dumps(body: dict) -> bytes:
    import json

    return json.dumps(body).encode()


def test_nul_in_paths_and_queries_is_refused_cleanly(api):
    assert api.get("/v1/customers/c%00x").status_code == 404
    assert api.get("/v1/customers/c%00x/timeline").status_code == 404
    assert api.get("/v1/decisions/d%00x").status_code == 404
    response = api.get("/v1/decisions?customer_id=c%00x")
    assert response.status_code == 422
    assert "customer_id" in error(response)["details"]


def test_an_unexpected_error_is_500_without_internals(guard, make_key, caplog):
    app = create_app(guard)

    def explode():
        raise RuntimeError("SELECT secret FROM internals")

    app.add_url_rule("/boom", "boom", explode)
    with caplog.at_level(logging.ERROR, logger="guard.web"):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"error": {"code": "internal_error", "message": error(response)["message"],
                                             "details": {}}}
    assert "SELECT" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert "SELECT secret" in caplog.text


@pytest.fixture
def down(tmp_path, starter_evaluator):
    """An app whose database cannot be opened."""
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'guard.db'}"
    guard = Guard(Settings(database_url=url), db=Database(url), rules=RulesHolder(starter_evaluator))
    yield create_app(guard)
    guard.db.dispose()


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("POST", "/v1/decisions", {"json": decision_body()}),
    ("GET", "/v1/decisions", {}),
    ("GET", "/v1/customers/c1", {}),
])
def test_database_outage_is_503_with_retry_after(down, method, path, kwargs):
    response = Api(down, "gk_any").request(method, path, **kwargs)
    assert response.status_code == 503
    assert error(response)["code"] == "service_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_readyz_reports_an_outage(down):
    response = Api(down, None).get("/readyz")
    assert response.status_code == 503
    assert error(response)["code"] == "not_ready"
    assert response.headers["Retry-After"] == "5"


def test_healthz_answers_during_an_outage(down):
    assert Api(down, None).get("/healthz").get_json() == {"status": "ok"}


def _error_classes():
    import inspect

    from guard.core import errors

    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, errors.GuardError) and c is not errors.GuardError]


EXPECTED_STATUS = {"ValidationFailed": 422, "RulesInvalid": 422, "MalformedRequest": 400, "Unauthenticated": 401,
                   "Forbidden": 403, "NotFound": 404, "Conflict": 409, "IdempotencyConflict": 409,
                   "EventConflict": 409, "PayloadTooLarge": 413, "UnsupportedMediaType": 415,
                   "ServiceUnavailable": 503}


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_every_guard_error_has_its_status_and_the_one_shape(guard, cls):
    app = create_app(guard)

    def fail():
        raise cls("Something is off.", {"field": ["why"]})

    app.add_url_rule("/fail", "fail", fail)
    response = app.test_client().get("/fail")
    assert response.status_code == EXPECTED_STATUS.get(cls.__name__, response.status_code)
    assert response.status_code != 500
    assert response.get_json() == {"error": {"code": cls.code, "message": "Something is off.",
                                             "details": {"field": ["why"]}}}
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if response.status_code == 503:
        assert response.headers["Retry-After"] == "5"
