"""Console sign-in: an API key checked once, then only its id in a signed session cookie, re-checked per page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, session

from guard.auth.keys import authenticate, require_scope
from guard.core.errors import Forbidden
from guard.storage.tables.auth import ApiKey
from guard.web.shared.context import current_guard

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "key_id"


def sign_in(token: str) -> ApiKey:
    """Start a session for a live key that may read the audit log; Unauthenticated or Forbidden otherwise."""
    with current_guard().db.sessions() as db_session:
        key = authenticate(db_session, token.strip())
    require_scope(key.scope_set, "read")
    session.clear()  # a fresh session: nothing from before sign-in carries over
    session[SESSION_KEY] = key.id
    session.permanent = True
    return key


def sign_out() -> None:
    """End the session."""
    session.clear()


def signed_in_key() -> ApiKey | None:
    """The session's key if it still exists, is not revoked and may read; else the session ends."""
    key_id = session.get(SESSION_KEY)
    if not isinstance(key_id, int):
        return None
    with current_guard().db.sessions() as db_session:
        key = db_session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None or not can(key, "read"):
        session.clear()
        return None
    return key


def can(key: ApiKey, scope: str) -> bool:
    """Whether the key has `scope` (admin implies every scope)."""
    return scope in key.scope_set or "admin" in key.scope_set


def current_key() -> ApiKey:
    """The signed-in key of this request."""
    key: ApiKey = g.console_key
    return key


def is_admin() -> bool:
    """Whether the signed-in key may manage rules."""
    key = g.get("console_key")
    return key is not None and "admin" in key.scope_set


def admin_only(view: F) -> F:
    """Decorate a page that only admin keys may reach (a 403 page for the others)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_admin():
            raise Forbidden("Managing rules needs an API key with the admin scope; this key may only read.",
                            {"required_scope": "admin"})
        return view(*args, **kwargs)

    return cast(F, wrapper)
