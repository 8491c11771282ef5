"""`/v1/rules/...` lifecycle: stored versions, their diffs, activation, rollback and backtests."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from guard.lifecycle import usecases
from guard.lifecycle.jobs import get_job
from guard.lifecycle.versions import active_activation, describe_version, diff_versions, get_version, list_versions
from guard.web.shared.auth import key_name, require
from guard.web.shared.body import json_body
from guard.web.shared.context import current_guard

bp = Blueprint("versions", __name__)


def _actor() -> str:
    return key_name() or "unknown"


@bp.get("/v1/rules/versions")
@require("read")
def versions() -> Response:
    """Every stored version and the activation history (who, when, why, and the diff)."""
    with current_guard().db.sessions() as session:
        return jsonify(list_versions(session))


@bp.post("/v1/rules/versions")
@require("admin")
def create_version() -> tuple[Response, int]:
    """Store a new version from rule files; it must validate and pass its own tests."""
    return jsonify(usecases.new_version(current_guard().db, json_body(), _actor())), 201


@bp.get("/v1/rules/versions/<int:number>")
@require("read")
def version(number: int) -> Response:
    """One stored version with its files."""
    with current_guard().db.sessions() as session:
        active = active_activation(session)
        found = get_version(session, number)
        return jsonify(describe_version(found, active.version if active else None, with_files=True))


@bp.get("/v1/rules/versions/<int:old>/diff/<int:new>")
@require("read")
def diff(old: int, new: int) -> Response:
    """A unified diff of the rule files between two versions."""
    with current_guard().db.sessions() as session:
        return jsonify(diff_versions(session, old, new))


@bp.post("/v1/rules/activate")
@require("admin")
def activate() -> Response:
    """Activate a stored version everywhere (re-validated and re-tested first)."""
    return jsonify(usecases.activate_version(current_guard().db, json_body(), _actor()))


@bp.post("/v1/rules/rollback")
@require("admin")
def rollback() -> Response:
    """Return to the previously active version."""
    body = json_body() if request.get_data(cache=True).strip() else {}
    return jsonify(usecases.rollback_version(current_guard().db, body, _actor()))


@bp.post("/v1/rules/backtest")
@require("admin")
def backtest() -> tuple[Response, int]:
    """Replay recorded decisions against a candidate: the report (200) or a job to follow (202)."""
    guard = current_guard()
    result, is_job = usecases.backtest(guard.db, json_body(), guard.rules.version)
    if not is_job:
        return jsonify(result), 200
    result["href"] = url_for("versions.backtest_job", job_id=result["job_id"])
    response = jsonify(result)
    response.headers["Location"] = result["href"]
    return response, 202


@bp.get("/v1/rules/backtest/<job_id>")
@require("admin")
def backtest_job(job_id: str) -> Response:
    """A background backtest's progress, and its report once done."""
    return jsonify(get_job(current_guard().db, job_id))
