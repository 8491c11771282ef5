"""api/openapi.yaml describes exactly the routes the app serves, with the scopes the views require."""

from __future__ import annotations

from flask import Flask

from tests.http.openapi import METHODS, errors, path_template, resolve, spec


def served(app: Flask) -> dict[tuple[str, str], str | None]:
    """(path template, method) → required scope of every route the app serves."""
    out = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        for method in rule.methods or ():
            if method.lower() in METHODS:
                out[(path_template(rule.rule), method.lower())] = getattr(view, "required_scope", None)
    return out


def documented() -> dict[tuple[str, str], str | None]:
    """(path, method) → required scope of every documented operation."""
    out = {}
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                out[(path, method)] = op.get("x-required-scope")
    return out


def test_spec_is_openapi_3_with_bearer_auth():
    assert spec()["openapi"].startswith("3.")
    assert spec()["components"]["securitySchemes"]["bearerAuth"] == {
        **spec()["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}


def test_every_route_is_documented_and_every_documented_route_is_served(app):
    routes = served(app)
    assert set(routes) == set(documented())
    assert {p for p, _ in routes} >= {"/healthz", "/readyz"}
    assert all(p.startswith("/v1/") or p in ("/healthz", "/readyz") for p, _ in routes)


def test_documented_scopes_are_the_scopes_views_require(app):
    assert served(app) == documented()
    for (path, method), scope in documented().items():
        security = spec()["paths"][path][method].get("security", spec()["security"])
        assert security == ([{"bearerAuth": [scope]}] if scope else []), (path, method)


def test_every_ref_resolves_and_every_operation_documents_its_auth_errors():
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                assert resolve(response)["description"], (path, method, status)
            if op.get("x-required-scope"):
                assert {"401", "403"} <= set(op["responses"]), (path, method)
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                assert {"400", "413", "415", "422"} <= set(op["responses"]), (path, method)


def test_the_checker_catches_wrong_shapes():
    decision = {"$ref": "#/components/schemas/Decision"}
    assert errors({"decision_id": "x"}, decision)
    assert errors({"error": {"code": "x", "message": "m"}}, {"$ref": "#/components/schemas/Error"})
    assert not errors({"error": {"code": "x", "message": "m", "details": {}}}, {"$ref": "#/components/schemas/Error"})
