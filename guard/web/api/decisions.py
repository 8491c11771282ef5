"""`/v1/decisions`: deciding on a planned send, and reading the audit log."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from guard.audit.proof import inclusion_proof
from guard.core import metrics
from guard.core.errors import NotFound
from guard.decisions.queries import get_decision, list_decisions
from guard.decisions.service import decide
from guard.web.shared.auth import key_id, key_name, require
from guard.web.shared.body import json_body, with_idempotency_key
from guard.web.shared.context import current_guard
from guard.web.shared.schemas import DecisionListQuery, query

bp = Blueprint("decisions", __name__)


@bp.post("/v1/decisions")
@require("decide")
def create_decision() -> Response:
    """Decide on one planned send; the answer is in the audit log before it is returned."""
    guard = current_guard()
    body = with_idempotency_key(json_body(), "idempotency_key")
    answer = decide(guard.db, guard.evaluator, body, key_name(), guard.rules.version, key_id())
    metrics.count_decisions([answer])
    return jsonify(answer)


@bp.get("/v1/decisions")
@require("read")
def decisions() -> Response:
    """A filtered page of the audit log, newest first, with the cursor of the next page."""
    filters = query(DecisionListQuery())
    with current_guard().db.sessions() as session:
        return jsonify(list_decisions(session, filters))


@bp.get("/v1/decisions/<decision_id>")
@require("read")
def decision(decision_id: str) -> Response:
    """One decision's full audit record."""
    if "\x00" in decision_id:
        raise NotFound(f"No decision {decision_id!r}.", {"decision_id": decision_id})
    with current_guard().db.sessions() as session:
        return jsonify(get_decision(session, decision_id))


@bp.get("/v1/decisions/<decision_id>/proof")
@require("read")
def decision_proof(decision_id: str) -> Response:
    """The proof that a decision is in the audit chain: its leaf, the Merkle path, the group's record."""
    if "\x00" in decision_id:
        raise NotFound(f"No decision {decision_id!r}.", {"decision_id": decision_id})
    with current_guard().db.sessions() as session:
        return jsonify(inclusion_proof(session, decision_id))
