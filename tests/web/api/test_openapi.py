"""api/openapi.yaml describes exactly the routes the app serves, with the scopes the views require."""

from __future__ import annotations

from flask import Flask

from tests.web.api.openapi import METHODS, errors, path_template, resolve, spec


def served(app: Flask) -> dict[tuple[str, str], str | None]:
    """(path template, method) → required scope of every route the app serves."""
    out = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console.") or rule.rule.startswith("/docs"):
            continue  # the console's and the reference's HTML pages are not part of the API
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
    assert all(p.startswith("/v1/") or p in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml")
               for p, _ in routes)


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


def test_path_parameters_match_the_path_templates():
    import re

    for path, item in spec()["paths"].items():
        for method, op in item.items():
            parameters = [resolve(p) for p in op.get("parameters", [])]
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
            assert all(p.get("required") for p in parameters if p["in"] == "path")


def test_batch_decisions_answer_as_documented(api):
    body = {"message": {"channel": "email", "purpose": "marketing", "send_at": "2026-03-02T12:00:00Z"},
            "customer_ids": ["b1", "b2", ""]}
    response = api.post("/v1/decisions/batch", json=body)  # the Api client checks the documented shape
    assert response.status_code == 200
    assert [("error" in r) for r in response.get_json()["results"]] == [False, False, True]


def test_rule_lifecycle_answers_as_documented(api):
    text = ("rules:\n  - id: quiet\n    description: Nothing on Sundays.\n    when:\n"
            "      - local_weekday: sun\n    outcome: block\n    explanation: Sunday.\n")
    assert api.get("/v1/rules/versions").status_code == 200
    first = api.post("/v1/rules/versions", json={"text": text, "message": "first"})
    assert first.status_code == 201, first.get_json()
    second = api.post("/v1/rules/versions", json={"text": text + "\n", "message": "second"}).get_json()
    old, new = first.get_json()["number"], second["number"]
    assert api.get(f"/v1/rules/versions/{old}").status_code == 200
    assert api.get(f"/v1/rules/versions/{old}/diff/{new}").status_code == 200
    assert api.get("/v1/rules/versions/999999").status_code == 404
    assert api.post("/v1/rules/activate", json={"version": old, "message": "go"}).status_code == 200
    assert api.post("/v1/rules/activate", json={"version": new}).status_code == 200
    assert api.post("/v1/rules/rollback", json={}).status_code == 200
    assert api.get("/v1/rules/versions").status_code == 200
    report = api.post("/v1/rules/backtest", json={"version": old, "background": False})
    assert report.status_code in (200, 404), report.get_json()
    assert api.post("/v1/rules/backtest", json={"text": text, "background": False}).status_code == 200
    assert api.get("/v1/rules/backtest/no-such-job").status_code == 404


def test_the_description_names_every_admin_operation_and_the_served_port():
    text = " ".join(spec()["info"]["description"].split())
    admin = text.split("`admin` (", 1)[1].split(")", 1)[0]
    for (path, method), scope in documented().items():
        if scope == "admin":
            assert f"{method.upper()} {path}" in admin, (method, path)
    from guard.cli.serve import serve

    port = next(p.default for p in serve.params if p.name == "port")
    assert spec()["servers"][0]["url"] == f"http://127.0.0.1:{port}"
