"""Wiring the console into the app: session cookie settings, CSRF protection, views and error pages."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from guard.core.config import Settings
from guard.web.console import views  # noqa: F401  (declares the routes on the blueprint)
from guard.web.console.blueprint import bp, csrf

SESSION_HOURS = 8
CONSOLE_PREFIX = "/console"


def init_console(app: Flask, settings: Settings) -> None:
    """Mount the console on `app`: /console, with / redirecting to it."""
    # Without GUARD_SECRET_KEY, a per-app secret: sessions end when the process does (guard serve and
    # gunicorn.conf.py make one in the master instead, so all workers share it).
    app.secret_key = settings.secret_key or secrets.token_urlsafe(32)
    app.config.update(
        SESSION_COOKIE_NAME="guard_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        # The API authenticates with bearer keys, not cookies: only console forms are checked (see views).
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as the session, so editing a rule for an hour does not lose the edit.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = ConsoleSessions()
    csrf.init_app(app)
    app.register_blueprint(bp)


class ConsoleSessions(SecureCookieSessionInterface):
    """Cookie sessions for the console only: API requests authenticate with bearer keys, so they skip
    reading, verifying and re-signing a cookie they never use (measurable on every decision)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """A null session for everything outside the console."""
        if not request.path.startswith(CONSOLE_PREFIX):
            return self.null_session_class()
        return super().open_session(app, request)
