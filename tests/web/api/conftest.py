"""HTTP fixtures: the app on the test database, a key factory, and a client that checks every response
against api/openapi.yaml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException
from werkzeug.test import TestResponse

from guard.app import Guard
from guard.auth.keys import create_key, revoke_key
from guard.decisions.projector import catch_up
from guard.storage.tables import Decision, DecisionRule, Event
from guard.web.factory import create_app
from tests.conftest import reads_caught_up
from tests.web.api.openapi import path_template, response_problems

KeyFactory = Callable[..., str]


@pytest.fixture
def app(guard: Guard) -> Flask:
    """The Flask app serving the test Guard."""
    app = create_app(guard)
    app.testing = True
    return reads_caught_up(app, guard.db)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client."""
    return app.test_client()


@pytest.fixture
def make_key(guard: Guard) -> KeyFactory:
    """make_key("decide", "read", revoked=False) → a bearer token with those scopes."""

    def make(*scopes: str, name: str = "test", revoked: bool = False) -> str:
        with guard.db.transaction() as session:
            key, token = create_key(session, name, scopes)
            if revoked:
                revoke_key(session, key.id)
        return token

    return make


class Api:
    """A test client that sends a bearer key and checks each answer against the OpenAPI description."""

    def __init__(self, app: Flask, token: str | None) -> None:
        self.app = app
        self.client = app.test_client()
        self.token = token

    def request(self, method: str, path: str, token: str | bool | None = True, **kwargs: Any) -> TestResponse:
        """Send a request; token=True uses the default key, None or False sends none."""
        headers = dict(kwargs.pop("headers", {}) or {})
        bearer = self.token if token is True else token
        if bearer:
            headers.setdefault("Authorization", f"Bearer {bearer}")
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        self.check(method, path, response)
        return response

    def check(self, method: str, path: str, response: TestResponse) -> None:
        """Assert the response is documented and has the documented shape."""
        if response.status_code >= 400:
            error = response.get_json()["error"]
            assert set(error) == {"code", "message", "details"}, error
        adapter = self.app.url_map.bind("localhost")
        try:
            rule, _ = adapter.match(path.split("?")[0], method=method, return_rule=True)
        except HTTPException:
            return  # unknown route or method: nothing documented to compare with
        if response.status_code == 500:
            return
        headers = {k: v for k, v in response.headers.items()}
        problems = response_problems(path_template(rule.rule), method, response.status_code, response.mimetype,
                                     response.get_json(silent=True), headers)
        assert not problems, problems

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        """POST."""
        return self.request("POST", path, **kwargs)

    def decide(self, expect: int = 200, **body: Any) -> dict[str, Any]:
        """POST /v1/decisions and return the JSON answer, asserting the status."""
        response = self.post("/v1/decisions", json=body)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def events(self, *events: dict[str, Any]) -> dict[str, Any]:
        """POST a batch of events, asserting each was stored or a duplicate."""
        response = self.post("/v1/events", json={"events": list(events)})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["errors"] == 0, body
        return body


@pytest.fixture
def api(app: Flask, make_key: KeyFactory) -> Api:
    """An Api client whose default key has every scope."""
    return Api(app, make_key("admin", name="test-admin"))


@pytest.fixture
def api_for(app: Flask, make_key: KeyFactory) -> Callable[..., Api]:
    """api_for("read") → an Api client whose key has exactly those scopes."""
    return lambda *scopes: Api(app, make_key(*scopes, name="scoped"))


@pytest.fixture
def count(guard: Guard) -> Callable[[], dict[str, int]]:
    """Row counts of the tables requests write to."""

    def counts() -> dict[str, int]:
        catch_up(guard.db)  # rule rows are written behind the writer
        with guard.db.sessions() as session:
            return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                    for model in (Decision, DecisionRule, Event)}

    return counts


def decision_body(customer_id: str = "c1", **fields: Any) -> dict[str, Any]:
    """A valid decision request."""
    return {"customer_id": customer_id, "channel": "email", "purpose": "marketing",
            "send_at": "2026-03-02T12:00:00Z", **fields}
