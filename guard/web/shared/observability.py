"""Per-request plumbing for every response: request ids, security headers, latency and error metrics."""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from guard.core import metrics
from guard.core.errors import GuardError, Unauthenticated
from guard.core.logs import REQUEST_ID
from guard.decisions import projector
from guard.web.shared.context import current_guard

bp = Blueprint("observability", __name__)

# A caller's request id is echoed only when it is short and plain: it ends up in logs and headers.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
# JSON answers load nothing; console pages load their own scripts, styles and images only. Nobody may
# frame Guard (clickjacking), and nothing is sent to other sites in the Referer header.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Metric labels take the method from this set only: any other method (a client may send `ZZ1` … `ZZ5000`)
# is counted as "other", so callers cannot create series at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def install(app: Flask) -> None:
    """Register the hooks on `app` (and GET /metrics)."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_forget)
    app.register_blueprint(bp)


def _start() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
    g.request_token = REQUEST_ID.set(g.request_id)
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    headers = response.headers
    headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
    present = {name.lower() for name, _ in headers}  # one pass, not one scan per header
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers.add(name, value)
    if request.path.startswith("/v1/") and "cache-control" not in present:
        # API answers are per key and per moment: no shared cache may keep them.
        headers.add("Cache-Control", "no-store")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    _observe(response)
    return response


def _observe(response: Response) -> None:
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    started = g.get("request_started")
    if started is not None:
        method = request.method if request.method in KNOWN_METHODS else "other"
        metrics.REQUEST_SECONDS.labels(method, route, str(response.status_code)).observe(
            time.perf_counter() - started)
    if response.status_code >= 400:
        metrics.ERRORS.labels(str(response.status_code), _error_code(response)).inc()


def _error_code(response: Response) -> str:
    """The `error.code` of a JSON error answer ("unknown" for anything else)."""
    if response.is_streamed or not response.is_json:
        return "unknown"
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and len(code) <= 64 else "unknown"


def _forget(_error: BaseException | None) -> None:
    token = g.pop("request_token", None)
    if token is not None:
        with contextlib.suppress(ValueError):  # a token from another context: nothing of ours to undo
            REQUEST_ID.reset(token)


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Prometheus text exposition of all workers; needs GUARD_METRICS_TOKEN as a bearer token when set."""
    token = current_app.config["GUARD_SETTINGS"].metrics_token
    if token:
        sent = request.headers.get("Authorization", "").partition(" ")[2].strip()
        if not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), token.encode()):
            raise Unauthenticated("Send the metrics token: Authorization: Bearer <GUARD_METRICS_TOKEN>.")
    return Response(metrics.exposition() + _projection_gauges(), headers={"Cache-Control": "no-store"},
                    content_type="text/plain; version=0.0.4; charset=utf-8")


def _projection_gauges() -> bytes:
    """How far the reviewers' index is behind the decision log, read from the database now (nothing when it
    cannot be read: the other metrics still answer)."""
    try:
        behind = projector.lag(current_guard().db)
    except (SQLAlchemyError, GuardError):
        logging.getLogger("guard.web").warning("projection lag unavailable: the database cannot be reached")
        return b""
    return metrics.gauges_text([
        ("guard_projection_lag_seconds", "At most how long the oldest decision not yet in the reviewers' index "
         "(filters by campaign, rule, time; stats; export) has been committed; 0 when caught up.", behind.seconds),
        ("guard_projection_behind_decisions", "Decisions committed and not yet in the reviewers' index.",
         float(behind.behind)),
    ])
