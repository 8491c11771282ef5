"""Console fixtures: a production-like Guard (rules from the version log), and a signed-in test client that
sends each form with the CSRF token of the page it came from, as a browser does."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from guard.app import Guard
from guard.auth.keys import create_key
from guard.core.config import Settings
from guard.lifecycle.active import ActiveRules
from guard.storage.database import Database
from guard.web.factory import create_app
from tests.conftest import RULES_DIR, reads_caught_up

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def console_guard(db: Database, db_url: str) -> Guard:
    """Rules seeded into the version log and served from it, as `guard serve` does."""
    guard = Guard(Settings(database_url=db_url, rules_dir=str(RULES_DIR), secret_key="test-secret"), db=db,
                  rules=ActiveRules(db, check_interval=0))
    guard.seed_rules()
    return guard


@pytest.fixture
def console_app(console_guard: Guard) -> Flask:
    app = create_app(console_guard)
    app.testing = True
    return reads_caught_up(app, console_guard.db)


class Browser:
    """A cookie-keeping client that reads the CSRF token from the last page it fetched."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.last: TestResponse | None = None

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        self.last = self.client.get(path, **kwargs)
        return self.last

    def token(self) -> str:
        assert self.last is not None
        found = CSRF.search(self.last.get_data(as_text=True))
        assert found, "the page has no form"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True) -> TestResponse:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.token()
        self.last = self.client.post(path, data=form)
        return self.last

    def sign_in(self, key: str) -> TestResponse:
        self.get("/console/signin")
        return self.post("/console/signin", {"key": key})


@pytest.fixture
def key_for(console_guard: Guard) -> Callable[..., str]:
    """key_for("read", name="rita") → a new API key with those scopes."""

    def make(*scopes: str, name: str = "reviewer") -> str:
        with console_guard.db.transaction() as session:
            _, token = create_key(session, name, scopes)
        return token

    return make


@pytest.fixture
def browser(console_app: Flask) -> Browser:
    """A client that is not signed in."""
    return Browser(console_app.test_client())


@pytest.fixture
def admin(console_app: Flask, key_for: Callable[..., str]) -> Browser:
    """Signed in with an admin key named alice."""
    b = Browser(console_app.test_client())
    assert b.sign_in(key_for("admin", name="alice")).status_code == 302
    return b


@pytest.fixture
def reader(console_app: Flask, key_for: Callable[..., str]) -> Browser:
    """Signed in with a read key named rita."""
    b = Browser(console_app.test_client())
    assert b.sign_in(key_for("read", name="rita")).status_code == 302
    return b


@pytest.fixture
def committed_console(committed_db: Database) -> Guard:
    """A Guard on a database that really commits (background backtests run in their own thread)."""
    guard = Guard(Settings(database_url=committed_db.url, rules_dir=str(RULES_DIR), secret_key="test-secret"),
                  db=committed_db, rules=ActiveRules(committed_db, check_interval=0))
    guard.seed_rules()
    return guard
