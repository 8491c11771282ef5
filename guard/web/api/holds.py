"""`/v1/holds`: the messages Guard holds for senders that accepted holds (issue 15), listed and cancelled."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from guard.core.errors import NotFound
from guard.core.timeutil import utcnow
from guard.holds.usecases import cancel_hold, list_holds
from guard.web.shared.auth import require
from guard.web.shared.context import current_guard
from guard.web.shared.schemas import HoldListQuery, query

bp = Blueprint("holds", __name__)


@bp.get("/v1/holds")
@require("read")
def holds() -> Response:
    """Holds, newest first, of a customer and/or in a status."""
    params = query(HoldListQuery())
    with current_guard().db.sessions() as session:
        return jsonify(list_holds(session, params.get("customer_id"), params.get("status"), params["limit"]))


@bp.delete("/v1/holds/<hold_id>")
@require("decide")
def cancel(hold_id: str) -> Response:
    """Cancel a waiting hold: it is never released."""
    if "\x00" in hold_id or len(hold_id) > 40:
        raise NotFound(f"No hold {hold_id!r}.", {"hold_id": hold_id})
    return jsonify(cancel_hold(current_guard().db, hold_id, utcnow()))
