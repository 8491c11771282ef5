"""What senders do with holds: list a customer's holds, and cancel one that still waits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.core.errors import HoldNotWaiting, NotFound
from guard.core.timeutil import iso
from guard.decisions.answer import hold_view
from guard.situation.aliases import identity, names_of
from guard.storage.database import Database
from guard.storage.tables.holds import Hold

MAX_PAGE = 500


def hold_record(hold: Hold) -> dict[str, Any]:
    """A hold as the API and console show it."""
    view = hold_view(hold.hold_id, hold.expires_at, hold.waiting_kind, hold.waiting_case_id, hold.waiting_after)
    return {**view, "customer_id": hold.customer_id, "campaign_id": hold.campaign_id, "status": hold.status,
            "rule_id": hold.rule_id, "decision_id": hold.decision_id, "release_at": iso(hold.release_at),
            "resolution_decision_id": hold.resolution_decision_id, "request": hold.request,
            "created_at": iso(hold.created_at), "updated_at": iso(hold.updated_at)}


def list_holds(session: Session, customer_id: str | None = None, status: str | None = None,
               limit: int = 100) -> dict[str, Any]:
    """Holds, newest first, of a customer (under any of their names) and/or in a status."""
    query = select(Hold)
    if customer_id is not None:
        query = query.where(Hold.customer_id.in_(names_of(identity(session, customer_id))))
    if status is not None:
        query = query.where(Hold.status == status)
    holds = session.scalars(query.order_by(Hold.id.desc()).limit(min(limit, MAX_PAGE)))
    return {"items": [hold_record(h) for h in holds]}


def cancel_hold(db: Database, hold_id: str, now: datetime) -> dict[str, Any]:
    """Cancel a waiting hold: it is never released; NotFound, or HoldNotWaiting once it was settled."""
    with db.transaction() as session:
        hold = session.scalars(select(Hold).where(Hold.hold_id == hold_id).with_for_update()).first()
        if hold is None:
            raise NotFound(f"No hold {hold_id!r}.", {"hold_id": hold_id})
        if hold.status != "waiting":
            raise HoldNotWaiting(f"Hold {hold_id!r} is {hold.status}: only a waiting hold can be cancelled.",
                                 {"hold_id": hold_id, "status": hold.status})
        hold.status = "cancelled"
        hold.updated_at = now
        session.flush()
        return hold_record(hold)
