"""`/v1/customers`: a customer's derived situation and timeline."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from guard.core.timeutil import as_utc, utcnow
from guard.decisions.queries import known_identity, timeline
from guard.situation.aliases import names_of
from guard.situation.queries import describe, situation_at
from guard.web.shared.auth import require
from guard.web.shared.context import current_guard
from guard.web.shared.schemas import CustomerQuery, TimelineQuery, query

bp = Blueprint("customers", __name__)


@bp.get("/v1/customers/<path:customer_id>")
@require("read")
def customer(customer_id: str) -> Response:
    """The situation now (or at `?at=`) under all the customer's names: open complaints and refunds, recent
    purchases, consent, profile."""
    params = query(CustomerQuery())
    at = as_utc(params["at"]) if params.get("at") else utcnow()
    with current_guard().db.sessions() as session:
        who = known_identity(session, customer_id)
        return jsonify(describe(customer_id, situation_at(session, customer_id, at), who))


@bp.get("/v1/customers/<path:customer_id>/timeline")
@require("read")
def customer_timeline(customer_id: str) -> Response:
    """Events and decisions under all the customer's names in time order (the latest `limit`)."""
    params = query(TimelineQuery())
    with current_guard().db.sessions() as session:
        who = known_identity(session, customer_id)
        items = timeline(session, names_of(who), params["limit"])
    return jsonify({"customer_id": customer_id, "items": items})
