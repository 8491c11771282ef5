"""`/v1/sources`: the vendors whose webhooks Guard accepts (admin), and `/v1/inbound/NAME` where they post."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from guard.core.timeutil import utcnow
from guard.holds.release import after_events
from guard.sources.receive import receive
from guard.sources.usecases import add_source, describe, get_source, list_sources, remove_source
from guard.web.shared.auth import key_name, require, vendor_signed
from guard.web.shared.body import json_body
from guard.web.shared.context import current_guard

bp = Blueprint("sources", __name__)


@bp.post("/v1/sources")
@require("admin")
def create() -> tuple[Response, int]:
    """Add a source; the answer names the path to give the vendor (never the secret)."""
    guard = current_guard()
    return jsonify(add_source(guard.db, guard.settings.audit_key, json_body(), key_name() or "unknown")), 201


@bp.get("/v1/sources")
@require("admin")
def index() -> Response:
    """Every live source."""
    with current_guard().db.sessions() as session:
        return jsonify({"sources": [describe(s) for s in list_sources(session)]})


@bp.get("/v1/sources/<name>")
@require("admin")
def show(name: str) -> Response:
    """One live source."""
    with current_guard().db.sessions() as session:
        return jsonify(describe(get_source(session, name)))


@bp.delete("/v1/sources/<name>")
@require("admin")
def delete(name: str) -> Response:
    """Remove a source: its deliveries are refused from now on (404)."""
    return jsonify(remove_source(current_guard().db, name))


@bp.post("/v1/inbound/<name>")
@vendor_signed
def inbound(name: str) -> Response:
    """A vendor's webhook delivery, exactly as sent, authenticated by its signature over the raw body."""
    guard = current_guard()
    headers = {**dict(request.headers), ":method": request.method, ":url": request.url}
    received = receive(guard.db, guard.settings.audit_key, name, headers, request.get_data(cache=True), utcnow())
    after_events(guard.db, [e for e in received.get("events") or () if e.get("status") == "created"], utcnow())
    return jsonify(received)
