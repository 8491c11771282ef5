"""The one mapping from failures to HTTP answers: every error body is {"error": {code, message, details}}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from guard.core.errors import (
    Conflict,
    Forbidden,
    GuardError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    SignatureRejected,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)

log = logging.getLogger("guard.web")

RETRY_AFTER_SECONDS = "5"

# Most specific first is not needed: the lookup walks each error's MRO.
STATUS: dict[type[GuardError], int] = {
    ValidationFailed: 422,  # RulesInvalid is a ValidationFailed
    MalformedRequest: 400,
    Unauthenticated: 401,
    SignatureRejected: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,  # IdempotencyConflict, EventConflict
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ServiceUnavailable: 503,
}

HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def status_of(error: GuardError) -> int:
    """The HTTP status of a Guard error (500 for a GuardError nobody mapped)."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    """A response in the one error shape."""
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _headers_for(status: int) -> dict[str, str]:
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="guard"'}
    if status == 503:
        return {"Retry-After": RETRY_AFTER_SECONDS}
    return {}


def handle_guard_error(error: GuardError) -> Response:
    """A domain error as its mapped status."""
    status = status_of(error)
    if status == 500:
        log.error("unmapped Guard error %s: %s", type(error).__name__, error.message)
    return error_response(status, error.code, error.message, error.details, _headers_for(status))


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug's own errors (unknown route, wrong method, body too large) in the one shape."""
    status = error.code or 500
    code = HTTP_CODES.get(status) or (error.name or "error").lower().replace(" ", "_").replace("'", "")
    headers = _headers_for(status)
    if status == 405:
        headers.update({k: v for k, v in error.get_headers() if k.lower() == "allow"})
    details: dict[str, Any] = {}
    message = error.description or error.name
    if status == 413:
        message = "The request body is larger than this server accepts."
        details = {"max_bytes": current_app.config.get("MAX_CONTENT_LENGTH")}
    return error_response(status, code, message, details, headers)


def _disconnected(error: DBAPIError) -> bool:
    return bool(error.connection_invalidated) or isinstance(error, OperationalError)


def handle_database_error(error: DBAPIError) -> Response:
    """An unreachable or locked database is a 503; any other database failure is an internal error."""
    if _disconnected(error):
        log.warning("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
        message = "The database cannot be reached right now; retry soon."
        return error_response(503, "service_unavailable", message, {}, _headers_for(503))
    return handle_unexpected(error)


def handle_pool_timeout(error: PoolTimeout) -> Response:
    """All database connections are busy: retry soon."""
    log.warning("database pool exhausted: %s", error)
    return error_response(503, "service_unavailable", "The database is busy right now; retry soon.", {},
                          _headers_for(503))


def handle_unexpected(error: Exception) -> Response:
    """A bug: logged with its stack trace, answered without one."""
    log.exception("unexpected error", exc_info=error)
    return error_response(500, "internal_error", "Guard failed to answer this request; it has been logged.")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; Flask picks the most specific one for each exception."""
    app.register_error_handler(GuardError, handle_guard_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DBAPIError, handle_database_error)
    app.register_error_handler(PoolTimeout, handle_pool_timeout)
    app.register_error_handler(Exception, handle_unexpected)
