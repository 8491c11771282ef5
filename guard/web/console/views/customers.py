"""A customer's page: the situation now, held messages, and the timeline of events and decisions, newest first."""

from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from guard.core.timeutil import utcnow
from guard.decisions.queries import known_identity, timeline
from guard.holds.usecases import list_holds
from guard.situation.aliases import names_of
from guard.situation.queries import describe, situation_at
from guard.web.console.blueprint import bp
from guard.web.console.views.common import page
from guard.web.shared.context import current_guard

TIMELINE = 200
HOLDS = 50


@bp.get("/console/customers")
def find_customer() -> Response:
    """The customer search box: straight to the customer's page."""
    customer_id = request.args.get("customer_id", "").strip()
    if not customer_id:
        return redirect(url_for("console.decisions"))
    return redirect(url_for("console.customer", customer_id=customer_id))


@bp.get("/console/customers/<path:customer_id>")
def customer(customer_id: str) -> tuple[str, int]:
    """The situation (open cases with ages, purchases, consent, profile) and the latest timeline."""
    with current_guard().db.sessions() as session:
        who = known_identity(session, customer_id)
        situation = describe(customer_id, situation_at(session, customer_id, utcnow()), who)
        items = timeline(session, names_of(who), TIMELINE)
        holds = list_holds(session, customer_id, limit=HOLDS)["items"]
    return page("customer.html", customer_id=customer_id, situation=situation, items=list(reversed(items)),
                limit=TIMELINE, holds=holds)
