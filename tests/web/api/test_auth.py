"""Bearer keys and scopes: 401 without a valid key, 403 without the scope, admin implies every scope."""

from __future__ import annotations

import pytest

from tests.conftest import event
from tests.web.api.conftest import decision_body

# Every protected endpoint with a request that passes auth and validation.
ENDPOINTS = [
    ("decide", "POST", "/v1/decisions", {"json": decision_body()}, 200),
    ("events", "POST", "/v1/events", {"json": event("c1", "complaint.opened", "2026-01-01T00:00:00Z",
                                                       case_id="K")}, 201),
    ("read", "GET", "/v1/decisions", {}, 200),
    ("read", "GET", "/v1/decisions/no-such-decision", {}, 404),
    ("read", "GET", "/v1/customers/nobody", {}, 404),
    ("read", "GET", "/v1/customers/nobody/timeline", {}, 404),
    ("read", "GET", "/v1/rules", {}, 200),
    ("admin", "POST", "/v1/rules/validate", {"json": {"text": "rules: []\n"}}, 200),
]
IDS = [f"{method} {path}" for _, method, path, _, _ in ENDPOINTS]
OTHER_SCOPES = {"decide": ("events", "read"), "events": ("decide", "read"), "read": ("decide", "events"),
                "admin": ("decide", "events", "read")}


@pytest.mark.parametrize(("scope", "method", "path", "kwargs", "status"), ENDPOINTS, ids=IDS)
def test_no_key_is_401_with_a_bearer_challenge(api, scope, method, path, kwargs, status):
    response = api.request(method, path, token=None, **kwargs)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("scope", "method", "path", "kwargs", "status"), ENDPOINTS, ids=IDS)
def test_unknown_key_is_401(api, scope, method, path, kwargs, status):
    response = api.request(method, path, token="gk_not-a-key", **kwargs)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(("scope", "method", "path", "kwargs", "status"), ENDPOINTS, ids=IDS)
def test_revoked_key_is_401(api, make_key, scope, method, path, kwargs, status):
    token = make_key("admin", revoked=True)
    response = api.request(method, path, token=token, **kwargs)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(("scope", "method", "path", "kwargs", "status"), ENDPOINTS, ids=IDS)
def test_key_without_the_scope_is_403(api, make_key, scope, method, path, kwargs, status, count):
    before = count()
    response = api.request(method, path, token=make_key(*OTHER_SCOPES[scope]), **kwargs)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden"
    assert error["details"] == {"required_scope": scope}
    assert count() == before


@pytest.mark.parametrize(("scope", "method", "path", "kwargs", "status"), ENDPOINTS, ids=IDS)
def test_key_with_the_scope_passes(api, make_key, scope, method, path, kwargs, status):
    response = api.request(method, path, token=make_key(scope), **kwargs)
    assert response.status_code == status, response.get_json()


@pytest.mark.parametrize(("scope", "method", "path", "kwargs", "status"), ENDPOINTS, ids=IDS)
def test_admin_implies_every_scope(api, make_key, scope, method, path, kwargs, status):
    response = api.request(method, path, token=make_key("admin"), **kwargs)
    assert response.status_code == status, response.get_json()


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "gk_raw-key-without-scheme",
                                    "Token abc"])
def test_malformed_authorization_header_is_401(api, header):
    response = api.get("/v1/rules", token=None, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_scheme_is_case_insensitive(api, make_key):
    token = make_key("read")
    response = api.get("/v1/rules", token=None, headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_auth_is_checked_before_the_body(api):
    response = api.post("/v1/decisions", token=None, data="{not json", content_type="application/json")
    assert response.status_code == 401


def test_the_key_name_is_recorded_in_the_audit(api, make_key):
    from tests.web.api.conftest import Api

    client = Api(api.app, make_key("decide", "read", name="crm-campaigns"))
    decision_id = client.decide(**decision_body())["decision_id"]
    assert client.get(f"/v1/decisions/{decision_id}").get_json()["api_key_name"] == "crm-campaigns"


def test_health_needs_no_key(api):
    assert api.get("/healthz", token=None).status_code == 200
    assert api.get("/readyz", token=None).status_code == 200
