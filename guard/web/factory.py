"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from guard.app import Guard
from guard.core.config import Settings
from guard.web.api import (
    aliases,
    campaigns,
    customers,
    decisions,
    events,
    export,
    health,
    holds,
    policy,
    reference,
    rules,
    sources,
    subscriptions,
    versions,
)
from guard.web.console import init_console
from guard.web.shared import observability, ratelimit
from guard.web.shared.errors import register_error_handlers

BLUEPRINTS = (aliases.bp, campaigns.bp, export.bp, decisions.bp, events.bp, customers.bp, rules.bp, versions.bp,
              health.bp, policy.bp, sources.bp, subscriptions.bp, reference.bp, holds.bp)


def create_app(guard: Guard | None = None, settings: Settings | None = None) -> Flask:
    """A Flask app serving `guard` (built from GUARD_* settings when not given)."""
    if settings is None:
        settings = guard.settings if guard is not None else Settings.from_env()
    if guard is None:
        guard = Guard(settings)
    app = Flask("guard", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["guard"] = guard
    app.config["GUARD_SETTINGS"] = settings
    register_error_handlers(app)
    # Request ids, security headers and metrics first, so even a throttled request is observed.
    observability.install(app)
    app.register_error_handler(ratelimit.RateLimitExceeded, ratelimit.too_many_requests)
    ratelimit.install(app, settings)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    init_console(app, settings)
    return app
