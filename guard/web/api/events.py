"""`/v1/events`: events from CRM, helpdesk and shop systems, one at a time or in batches."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from guard.core import metrics
from guard.core.schemas import load
from guard.core.timeutil import utcnow
from guard.holds.release import after_events
from guard.situation.events import EventResult, ingest_batch, ingest_one
from guard.situation.schemas import EventBatchSchema
from guard.web.shared.auth import require
from guard.web.shared.body import json_body, no_idempotency_header, with_idempotency_key
from guard.web.shared.context import current_guard

bp = Blueprint("events", __name__)


@bp.post("/v1/events")
@require("events")
def post_events() -> tuple[Response, int]:
    """One event (201 created, 200 duplicate) or `{"events": [...]}` with a result per event."""
    body = json_body()
    if isinstance(body, dict) and "events" in body:
        no_idempotency_header("event_id")
        return _batch(body)
    # A single event's Idempotency-Key is its event_id: the key a repeat is recognised by.
    return _single(with_idempotency_key(body, "event_id"))


def _single(body: Any) -> tuple[Response, int]:
    guard = current_guard()
    result = ingest_one(guard.db, body, guard.evaluator.compiled.event_types)
    metrics.count_events([result.status], _unknown([result]))
    if result.status == "created":
        after_events(guard.db, [body], utcnow())
    out: dict[str, Any] = {"event_id": result.event_id, "status": result.status}
    if result.warnings:
        out["warnings"] = list(result.warnings)
    return jsonify(out), 201 if result.status == "created" else 200


def _batch(body: dict[str, Any]) -> tuple[Response, int]:
    guard = current_guard()
    events = load(EventBatchSchema(), body, "batch")["events"]
    results = ingest_batch(guard.db, events, known=guard.evaluator.compiled.event_types)
    after_events(guard.db, [events[r.index] for r in results if r.status == "created"], utcnow())
    statuses = [r.status for r in results]
    metrics.count_events(statuses, _unknown(results))
    return jsonify({
        "results": [r.to_dict() for r in results],
        "created": statuses.count("created"),
        "duplicates": statuses.count("duplicate"),
        "errors": statuses.count("error"),
    }), 200


def _unknown(results: list[EventResult]) -> int:
    """Newly stored events of an unknown type (a repeat was counted when it was first stored)."""
    return sum(1 for r in results if r.status == "created" and r.warnings)
