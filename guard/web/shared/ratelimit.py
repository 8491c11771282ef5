"""Rate limiting per API key (GUARD_RATE_LIMIT), with Flask-Limiter; 429 `rate_limited` with Retry-After."""

from __future__ import annotations

import hashlib
import math

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded

from guard.core.config import Settings

# Probes and scrapes must keep working while a caller is throttled; the console's and the API reference's
# static files are not API use.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
EXEMPT_PREFIXES = ("/console/static/", "/docs/assets/")


def exempt() -> bool:
    """Whether this request is never counted."""
    return request.path in EXEMPT_PATHS or request.path.startswith(EXEMPT_PREFIXES)


def client_key() -> str:
    """Whom a request counts against: its API key (hashed, so no key sits in the counters' storage), else its
    address."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "key:" + hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"addr:{request.remote_addr or 'unknown'}"


def install(app: Flask, settings: Settings) -> Limiter | None:
    """Apply GUARD_RATE_LIMIT to every request of one key, across all endpoints; nothing when unset."""
    if not settings.rate_limit:
        return None
    limiter = Limiter(
        client_key,
        app=app,
        application_limits=[settings.rate_limit],
        application_limits_exempt_when=exempt,
        storage_uri=settings.rate_limit_storage,
        strategy="moving-window",
        # Guard answers even when the counters' store (Redis) is down: limits then count per process.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix="guard",
    )
    return limiter


def retry_after(error: RateLimitExceeded) -> str:
    """Seconds until the limit's window has surely moved on (at least 1)."""
    try:
        return str(max(1, math.ceil(error.limit.limit.get_expiry())))
    except AttributeError:
        return "1"


def too_many_requests(error: RateLimitExceeded) -> Response:
    """429 in Guard's error shape."""
    from guard.web.shared.errors import error_response

    return error_response(429, "rate_limited", "Too many requests for this API key; slow down and retry later.",
                          {"limit": str(error.description)}, {"Retry-After": retry_after(error)})
