"""Liveness and readiness probes (no key needed)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from guard.core.errors import GuardError
from guard.decisions import projector
from guard.web.shared.context import current_guard
from guard.web.shared.errors import RETRY_AFTER_SECONDS, error_response

bp = Blueprint("health", __name__)
log = logging.getLogger("guard.web")


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """The database answers and a rules version is active: ready to decide."""
    guard = current_guard()
    try:
        with guard.db.sessions() as session:
            session.execute(text("SELECT 1"))
        if guard.db.writes_blocked():
            return _not_ready("The database is locked: nothing can be written.")
        version = guard.evaluator.version
        # Reviewers' reads lag behind the log; that never stops decisions, so it is shown, not judged.
        projection = projector.lag(guard.db).to_dict()
    except SQLAlchemyError as exc:
        log.warning("not ready: %s", type(exc).__name__)
        return _not_ready("The database cannot be reached.")
    except GuardError as exc:
        return _not_ready(exc.message)
    return jsonify({"status": "ready", "rules_version": version, "details": {"projection": projection}})


def _not_ready(message: str) -> Response:
    return error_response(503, "not_ready", message, {}, {"Retry-After": RETRY_AFTER_SECONDS})
