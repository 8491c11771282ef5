"""Bearer-key authentication and scope checks for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from guard.auth.keys import SCOPES, Caller, require_scope, token_digest
from guard.auth.known import known_keys
from guard.core.errors import Unauthenticated
from guard.web.shared.context import current_guard

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str | None:
    """The key sent as `Authorization: Bearer <key>`, or None when there is none."""
    header = request.headers.get("Authorization", "")
    if not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the API key as: Authorization: Bearer <key>.")
    return token.strip()


def authenticated_key(scope: str) -> Caller:
    """The caller's live key, checked for `scope`: 401 without a valid key, 403 without the scope."""
    # Remembered by this process for at most a second (guard/auth/known.py): a revocation takes that long.
    key = known_keys(current_guard().db).identify(token_digest(bearer_token()))
    require_scope(key.scope_set, scope)
    return key


def require(scope: str) -> Callable[[F], F]:
    """Decorate a view so it runs only for a key with `scope` (admin implies every scope)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.api_key = authenticated_key(scope)
            return view(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def key_name() -> str | None:
    """The name of the key that authenticated this request."""
    key = g.get("api_key")
    return key.name if key is not None else None


def key_id() -> int | None:
    """The id of the key that authenticated this request: the scope of its idempotency keys."""
    key = g.get("api_key")
    return key.id if key is not None else None


def vendor_signed(view: F) -> F:
    """Mark a view authenticated by the vendor's signature over the raw body instead of an API key."""
    view.authenticated_by = "vendor signature"  # type: ignore[attr-defined]
    return view
