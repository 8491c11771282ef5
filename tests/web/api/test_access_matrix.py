"""Every endpoint x every scope x no key / wrong key / revoked key: only the allowed combinations pass auth.

The endpoints come from the app's URL map, so a new endpoint is covered the day it is added; an endpoint
under /v1 that declares no scope fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from guard.app import Guard
from guard.auth.keys import SCOPES
from guard.web.factory import create_app

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Outside /v1, only these answer without a key (probes, metrics, the API reference and the files its page
# loads, and / which redirects to the console); console pages have their own sign-in.
PUBLIC = {"/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml", "/docs", "/docs/assets/docs.js"}
SAMPLE = {"int": "1", "path": "someone", "string": "x", "default": "x"}
# Values for path variables by name, where any value would only give 404.
SAMPLE_BY_NAME = {"asset": "docs.js"}


def endpoints(app: Flask) -> list[tuple[str, str, str | None]]:
    """(method, concrete path, required scope) of every route the app serves."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = _concrete(rule.rule)
        scope = getattr(app.view_functions[rule.endpoint], "required_scope", None)
        out.extend((method, path, scope) for method in sorted(rule.methods or ()) if method in METHODS)
    return out


def _concrete(rule: str) -> str:
    """A route's template with sample values for its parameters."""
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>",
                  lambda m: SAMPLE_BY_NAME.get(m.group(2)) or SAMPLE.get(m.group(1) or "default", "x"), rule)


def _send(client: Any, method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.open(path, method=method, headers=headers, **body)


@pytest.fixture
def matrix_app(guard: Guard) -> Flask:
    """The app under test."""
    app = create_app(guard)
    app.testing = True
    return app


def vendor_signed(app: Flask) -> set[str]:
    """The paths authenticated by a vendor's webhook signature instead of an API key."""
    return {_concrete(rule.rule) for rule in app.url_map.iter_rules()
            if getattr(app.view_functions[rule.endpoint], "authenticated_by", None) == "vendor signature"}


def test_every_api_endpoint_declares_its_scope(matrix_app: Flask):
    routes = endpoints(matrix_app)
    assert len(routes) >= 20
    signed = vendor_signed(matrix_app)
    assert signed == {"/v1/inbound/x"}
    undeclared = [(m, p) for m, p, scope in routes if p.startswith("/v1/") and scope is None and p not in signed]
    assert not undeclared, f"endpoints under /v1 without a scope: {undeclared}"
    # Outside /v1 a route without a scope is public: it must be one of the known ones, or a console page.
    unknown = [(m, p) for m, p, scope in routes if scope is None and not p.startswith(("/v1/", "/console"))
               and p not in PUBLIC]
    assert not unknown, f"routes answering without a key that this test does not know: {unknown}"


def test_a_vendor_signed_endpoint_takes_no_key_for_a_signature(matrix_app: Flask, make_key, guard: Guard):
    """Every scope's key, a revoked key or none: without the vendor's signature a delivery is refused."""
    from guard.sources.usecases import add_source

    add_source(guard.db, guard.settings.audit_key, {"name": "x", "kind": "stripe", "secret": "s"}, "test")
    client = matrix_app.test_client()
    tokens = [None, "gk_" + "x" * 43, make_key("admin", name="revoked", revoked=True),
              *(make_key(scope, name=f"only-{scope}") for scope in SCOPES)]
    for path in vendor_signed(matrix_app):
        for token in tokens:
            answer = _send(client, "POST", path, token)
            assert answer.status_code == 401, (path, token, answer.get_json())
            assert answer.get_json()["error"]["code"] == "invalid_signature"


def test_only_allowed_combinations_pass(matrix_app: Flask, make_key):
    client = matrix_app.test_client()
    keys = {scope: make_key(scope, name=f"only-{scope}") for scope in SCOPES}
    revoked = make_key("admin", name="revoked", revoked=True)
    signed = vendor_signed(matrix_app)
    checked = 0
    for method, path, required in endpoints(matrix_app):
        if required is None:
            if path in signed:
                continue  # signed by the vendor: test_a_vendor_signed_endpoint_takes_no_key_for_a_signature
            if path in PUBLIC:
                assert _send(client, method, path, None).status_code < 400, (method, path)
            continue
        for label, token in (("no key", None), ("wrong key", "gk_" + "x" * 43), ("revoked", revoked),
                             ("not bearer", None)):
            headers = {"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="} if label == "not bearer" else None
            answer = (client.open(path, method=method, headers=headers) if headers
                      else _send(client, method, path, token))
            assert answer.status_code == 401, (method, path, label, answer.status_code)
            assert answer.get_json()["error"]["code"] == "unauthenticated"
            checked += 1
        for scope, token in keys.items():
            answer = _send(client, method, path, token)
            allowed = scope in (required, "admin")
            if allowed:
                assert answer.status_code not in (401, 403), (method, path, scope, answer.get_json())
                assert answer.status_code < 500, (method, path, scope, answer.get_json())
            else:
                assert answer.status_code == 403, (method, path, scope, answer.status_code)
                assert answer.get_json()["error"] == {
                    "code": "forbidden", "message": answer.get_json()["error"]["message"],
                    "details": {"required_scope": required}}
            checked += 1
    assert checked >= 20 * (4 + len(SCOPES))


def test_the_identity_link_endpoints_are_in_the_matrix_with_their_scopes(matrix_app: Flask):
    routes = {(m, p): scope for m, p, scope in endpoints(matrix_app)}
    assert routes[("POST", "/v1/customers/someone/aliases")] == "events"
    assert routes[("GET", "/v1/customers/someone/aliases")] == "read"
    assert routes[("DELETE", "/v1/customers/someone/aliases/someone")] == "events"
