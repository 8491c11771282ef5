"""What every console page shares: the sign-in check, CSRF on forms, error pages and template helpers."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from guard.core.errors import GuardError
from guard.core.timeutil import age_phrase, as_utc
from guard.web.console.auth import is_admin, signed_in_key
from guard.web.console.blueprint import bp, csrf
from guard.web.console.filters import UTC_HINT, UTC_PATTERN
from guard.web.console.forms import SignOutForm
from guard.web.console.readable import shortened
from guard.web.shared.errors import status_of

log = logging.getLogger("guard.web.console")

PUBLIC = {"console.signin", "console.static", "console.root"}
OUTCOME_COLORS = {"allow": "#2e7d32", "block": "#c62828", "defer": "#ef8f00", "reroute": "#1565c0",
                  "hold": "#6a1b9a"}


@bp.before_request
def _signed_in() -> Response | None:
    """Forms must carry the CSRF token; every page but sign-in needs a live key that may read."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    if request.endpoint in PUBLIC:
        return None
    key = signed_in_key()
    if key is None:
        return redirect(url_for("console.signin", next=request.full_path.rstrip("?")))
    g.console_key = key
    return None


@bp.after_request
def _private(response: Response) -> Response:
    """Console pages show personal data: never cached; the Referer goes to Guard itself only, which CSRF
    protection over HTTPS requires (it checks that a form was posted from the same site)."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"key": g.get("console_key"), "is_admin": is_admin(), "outcome_colors": OUTCOME_COLORS,
            "signout_form": SignOutForm(), "UTC_PATTERN": UTC_PATTERN, "UTC_HINT": UTC_HINT}


@bp.app_template_filter("when")
def when(value: Any) -> str:
    """A time as people read it: 2026-03-04 10:00:00 UTC."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return str(as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC"))


bp.add_app_template_filter(shortened, "shortened")
bp.add_app_template_filter(age_phrase, "age")


def page(template: str, http_status: int = 200, **context: Any) -> tuple[str, int]:
    """A rendered console page."""
    return render_template(f"console/{template}", **context), http_status


def _error_page(status: int, title: str, message: str, details: Any = None) -> tuple[str, int]:
    return page("error.html", status, status=status, title=title, message=message, details=details)


@bp.errorhandler(GuardError)
def _guard_error(error: GuardError) -> tuple[str, int]:
    status = status_of(error)
    titles = {401: "Sign in again", 403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Not valid"}
    return _error_page(status, titles.get(status, "Error"), error.message, error.details)


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return _error_page(400, "The form expired", "This form was not sent from this session (or the session ended): "
                       "go back, reload the page and send it again.")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    return _error_page(error.code or 500, error.name, error.description or error.name)


@bp.errorhandler(DBAPIError)
@bp.errorhandler(PoolTimeout)
def _database_error(error: Exception) -> tuple[str, int]:
    log.warning("database unavailable for the console: %s", type(error).__name__)
    return _error_page(503, "Database unavailable", "The database cannot be reached right now; retry soon.")


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[str, int]:
    log.exception("console page failed", exc_info=error)
    return _error_page(500, "Something went wrong", "Guard failed to show this page; it has been logged.")
