"""`/v1/customers`: a customer's derived situation and timeline."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy.orm import Session

from guard.decisions.queries import customer_known, timeline
from guard.errors import NotFound
from guard.http.auth import require
from guard.http.context import current_guard
from guard.http.schemas import CustomerQuery, TimelineQuery, query
from guard.situation.queries import describe, situation_at
from guard.timeutil import as_utc, utcnow

bp = Blueprint("customers", __name__)


def _known(session: Session, customer_id: str) -> None:
    """NotFound unless Guard has an event or a decision for the customer."""
    if "\x00" in customer_id or not customer_known(session, customer_id):
        raise NotFound(f"Guard knows nothing of customer {customer_id!r}.", {"customer_id": customer_id})


@bp.get("/v1/customers/<path:customer_id>")
@require("read")
def customer(customer_id: str) -> Response:
    """The situation now (or at `?at=`): open complaints and refunds, recent purchases, consent, profile."""
    params = query(CustomerQuery())
    at = as_utc(params["at"]) if params.get("at") else utcnow()
    with current_guard().db.sessions() as session:
        _known(session, customer_id)
        return jsonify(describe(customer_id, situation_at(session, customer_id, at)))


@bp.get("/v1/customers/<path:customer_id>/timeline")
@require("read")
def customer_timeline(customer_id: str) -> Response:
    """Events and decisions in time order (the latest `limit`)."""
    params = query(TimelineQuery())
    with current_guard().db.sessions() as session:
        _known(session, customer_id)
        items = timeline(session, customer_id, params["limit"])
    return jsonify({"customer_id": customer_id, "items": items})
