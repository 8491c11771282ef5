"""`/v1/sources`: admins add, list, show and remove vendor webhook sources; secrets go in and never come out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from guard.app import Guard
from guard.audit.verify import verify
from guard.core.vault import SecretUnreadable, unseal
from guard.storage.tables.sources import Source
from tests.web.api.conftest import Api

SECRET = "shpss_sample-secret-0123456789"


def _add(api: Api, name: str = "shop", kind: str = "shopify", **extra: object) -> dict[str, object]:
    response = api.post("/v1/sources", json={"name": name, "kind": kind, "secret": SECRET, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_an_added_source_names_its_path_and_never_shows_its_secret(api: Api, guard: Guard):
    added = _add(api, customer_field="customer.email")
    assert added["path"] == "/v1/inbound/shop"
    assert added["kind"] == "shopify" and added["customer_field"] == "customer.email"
    assert added["created_by"] == "test-admin" and added["removed_at"] is None
    listed = api.get("/v1/sources").get_json()["sources"]
    shown = api.get("/v1/sources/shop").get_json()
    for answer in (added, listed, shown):
        assert SECRET not in str(answer) and "secret" not in str(answer)
    assert listed == [shown]
    with guard.db.sessions() as session:
        row = session.scalars(select(Source)).one()
        assert SECRET not in row.secret_box  # encrypted at rest ...
        assert unseal(guard.settings.audit_key, "shop", row.secret_box) == SECRET  # ... and usable to verify
        assert verify(session).ok


def test_a_secret_box_opens_only_for_its_own_source_and_key(api: Api, guard: Guard):
    _add(api)
    with guard.db.sessions() as session:
        box = session.scalars(select(Source)).one().secret_box
    with pytest.raises(SecretUnreadable):
        unseal(guard.settings.audit_key, "another", box)
    with pytest.raises(SecretUnreadable):
        unseal(b"another audit key, at least 32 characters long", "shop", box)


def test_a_taken_name_is_a_conflict_until_the_source_is_removed(api: Api, guard: Guard):
    _add(api)
    again = api.post("/v1/sources", json={"name": "shop", "kind": "stripe", "secret": "x"})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "conflict"
    removed = api.request("DELETE", "/v1/sources/shop")
    assert removed.status_code == 200
    assert removed.get_json()["removed_at"] is not None
    assert api.get("/v1/sources/shop").status_code == 404
    assert api.request("DELETE", "/v1/sources/shop").status_code == 404
    assert api.get("/v1/sources").get_json() == {"sources": []}
    assert _add(api, kind="stripe")["kind"] == "stripe"
    with guard.db.sessions() as session:
        report = verify(session)
        assert report.ok, report.to_dict()
        assert len(session.scalars(select(Source)).all()) == 2  # the removed one stays for the audit chain


def test_bad_input_gets_field_errors_and_stores_nothing(api: Api, guard: Guard):
    cases = [
        ({"name": "Shop!", "kind": "shopify", "secret": "s"}, "name"),
        ({"name": "shop", "kind": "magento", "secret": "s"}, "kind"),
        ({"name": "shop", "kind": "shopify", "secret": ""}, "secret"),
        ({"name": "shop", "kind": "shopify"}, "secret"),
        ({"name": "shop", "kind": "shopify", "secret": "s", "customer_field": "a..b"}, "customer_field"),
        ({"name": "shop", "kind": "shopify", "secret": "s", "colour": "red"}, "colour"),
        ({"name": "a" * 65, "kind": "shopify", "secret": "s"}, "name"),
        ({"name": "shop!", "kind": "shopify", "secret": "s"}, "name"),  # the pattern holds to the end ...
        ({"name": "shop\n", "kind": "shopify", "secret": "s"}, "name"),  # ... past a final newline too
        ({"name": "shop", "kind": "shopify", "secret": "s", "customer_field": "a.b\n"}, "customer_field"),
    ]
    for body, field in cases:
        response = api.post("/v1/sources", json=body)
        assert response.status_code == 422, (body, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] == "validation_failed" and field in error["details"], (body, error)
    assert api.post("/v1/sources", json=["shop"]).status_code == 422
    assert api.post("/v1/sources", data="name=shop", content_type="text/plain").status_code == 415
    with guard.db.sessions() as session:
        assert session.scalars(select(Source)).all() == []


def test_sources_are_for_admins_only(api_for):
    for scope in ("decide", "events", "read"):
        client = api_for(scope)
        assert client.get("/v1/sources").status_code == 403
        assert client.post("/v1/sources", json={"name": "x", "kind": "shopify", "secret": "s"}).status_code == 403


def test_a_source_changed_behind_the_logs_back_fails_verification(api: Api, guard: Guard):
    _add(api)
    with guard.db.transaction() as session:
        session.scalars(select(Source)).one().kind = "stripe"
    with guard.db.sessions() as session:
        problem = verify(session).problems[0]
    assert problem.kind == "altered" and problem.record.startswith("source ")


def test_a_source_inserted_behind_the_logs_back_fails_verification(api: Api, guard: Guard):
    _add(api)
    with guard.db.transaction() as session:
        row = session.scalars(select(Source)).one()
        session.add(Source(name="sneaky", live_name="sneaky", kind=row.kind, secret_box=row.secret_box,
                           customer_field=None, created_by="nobody", created_at=row.created_at))
    with guard.db.sessions() as session:
        problem = verify(session).problems[0]
    assert problem.kind == "inserted" and problem.record.startswith("source "), problem
