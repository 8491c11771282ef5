"""The console's Sources page: admins add and remove vendor sources (CSRF-protected); readers cannot."""

from __future__ import annotations

from sqlalchemy import select

from guard.app import Guard
from guard.storage.tables.sources import Source
from tests.web.console.conftest import Browser

SECRET = "whsec_console-secret-0123456789"


def test_an_admin_adds_and_removes_a_source_and_never_sees_its_secret(admin: Browser, console_guard: Guard):
    page = admin.get("/console/sources")
    assert page.status_code == 200 and "No sources yet" in page.get_data(as_text=True)
    added = admin.post("/console/sources", {"name": "shop", "kind": "shopify", "secret": SECRET,
                                            "customer_field": "customer.email"})
    assert added.status_code == 302
    listed = admin.get("/console/sources").get_data(as_text=True)
    assert "/v1/inbound/shop" in listed and "customer.email" in listed and "console:alice" in listed
    assert SECRET not in listed
    taken = admin.post("/console/sources", {"name": "shop", "kind": "stripe", "secret": SECRET})
    assert taken.status_code == 409 and SECRET not in taken.get_data(as_text=True)
    admin.get("/console/sources")
    assert admin.post("/console/sources/shop/remove").status_code == 302
    assert "No sources yet" in admin.get("/console/sources").get_data(as_text=True)
    with console_guard.db.sessions() as session:
        assert [s.removed_at is not None for s in session.scalars(select(Source))] == [True]


def test_bad_fields_are_shown_with_the_form_and_nothing_is_added(admin: Browser, console_guard: Guard):
    admin.get("/console/sources")
    answer = admin.post("/console/sources", {"name": "Shop!", "kind": "shopify", "secret": SECRET})
    assert answer.status_code == 422
    assert "lowercase letters" in answer.get_data(as_text=True)
    admin.get("/console/sources")
    assert admin.post("/console/sources", {"name": "shop", "kind": "magento", "secret": "s"}).status_code == 422
    with console_guard.db.sessions() as session:
        assert session.scalars(select(Source)).all() == []


def test_a_form_without_the_csrf_token_changes_nothing(admin: Browser, console_guard: Guard):
    admin.get("/console/sources")
    answer = admin.post("/console/sources", {"name": "shop", "kind": "shopify", "secret": SECRET}, csrf=False)
    assert answer.status_code == 400
    with console_guard.db.sessions() as session:
        assert session.scalars(select(Source)).all() == []


def test_readers_cannot_see_or_change_sources(reader: Browser):
    page = reader.get("/console/sources")
    assert page.status_code == 403
    assert "/console/sources" not in reader.get("/console/").get_data(as_text=True)
    assert reader.post("/console/sources", {"name": "shop", "kind": "shopify", "secret": SECRET}).status_code == 403
