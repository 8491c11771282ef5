"""`/v1/events`: events from CRM, helpdesk and shop systems, one at a time or in batches."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from guard import metrics
from guard.http.auth import require
from guard.http.body import json_body
from guard.http.context import current_guard
from guard.http.schemas import load
from guard.situation.events import ingest_batch, ingest_one
from guard.situation.schemas import EventBatchSchema

bp = Blueprint("events", __name__)


@bp.post("/v1/events")
@require("events")
def post_events() -> tuple[Response, int]:
    """One event (201 created, 200 duplicate) or `{"events": [...]}` with a result per event."""
    body = json_body()
    if isinstance(body, dict) and "events" in body:
        return _batch(body)
    return _single(body)


def _single(body: Any) -> tuple[Response, int]:
    status = ingest_one(current_guard().db, body)
    metrics.count_events([status])
    return jsonify({"event_id": body["event_id"], "status": status}), 201 if status == "created" else 200


def _batch(body: dict[str, Any]) -> tuple[Response, int]:
    events = load(EventBatchSchema(), body, "batch")["events"]
    results = ingest_batch(current_guard().db, events)
    statuses = [r.status for r in results]
    metrics.count_events(statuses)
    return jsonify({
        "results": [r.to_dict() for r in results],
        "created": statuses.count("created"),
        "duplicates": statuses.count("duplicate"),
        "errors": statuses.count("error"),
    }), 200
