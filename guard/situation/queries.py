"""Reading a customer's events and the situation they add up to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.core.timeutil import iso
from guard.situation.aliases import Identity
from guard.situation.derive import EventRecord, Situation, derive
from guard.situation.history import identities_of, markers_of
from guard.storage.sql import Sql
from guard.storage.tables.situation import Event

RECENT_PURCHASE_DAYS = 90


def load_events(session: Session, customer_id: str, until: datetime | None = None) -> list[EventRecord]:
    """A customer's events that occurred at or before `until`, in occurred_at order, then the suppression
    markers left by erasing them (read second, as `events_of` does; derive orders them all)."""
    query = select(Event.event_id, Event.type, Event.occurred_at, Event.data).where(Event.customer_id == customer_id)
    if until is not None:
        query = query.where(Event.occurred_at <= until)
    rows = session.execute(query.order_by(Event.occurred_at, Event.event_id))
    events = [EventRecord(event_id, type_, occurred_at, data or {}) for event_id, type_, occurred_at, data in rows]
    return events + markers_of(Sql.of_session(session), [customer_id]).get(customer_id, [])


def situation_at(session: Session, customer_id: str, at: datetime) -> Situation:
    """The derived situation of a customer at an instant: the events stored under every name linked with
    this one (see guard/situation/aliases.py); all of them, not only those the rules ask about."""
    names = identities_of(Sql.of_session(session), [customer_id]).members(customer_id)
    return derive([e for name in names for e in load_events(session, name, at)], at)


def describe(customer_id: str, situation: Situation, identity: Identity | None = None) -> dict[str, Any]:
    """The situation as `GET /v1/customers/<id>` shows it, with the names it was gathered under."""
    at = situation.at
    identity = identity or Identity(customer_id, [])
    return {
        "customer_id": customer_id,
        "linked_to": identity.customer_id if identity.customer_id != customer_id else None,
        "aliases": identity.aliases,
        "as_of": iso(at),
        "open_complaints": [_case(c, at, "case_id") for c in situation.cases("complaint")],
        "open_refunds": [_case(c, at, "refund_id") for c in situation.cases("refund")],
        "recent_purchases": _purchases(situation),
        "consent": [
            {"channel": channel, "purpose": purpose, "status": status, "since": iso(since)}
            for (channel, purpose), (status, since) in sorted(situation.consent.items())
        ],
        "profile": {
            "customer_since": situation.customer_since.isoformat() if situation.customer_since else None,
            "timezone": situation.timezone,
        },
        "event_count": len(situation.events),
    }


def _case(case: Any, at: datetime, id_field: str) -> dict[str, Any]:
    age = at - case.opened_at
    return {
        id_field: case.id,
        "opened_at": iso(case.opened_at),
        "reopened_at": iso(case.reopened_at),
        "age_days": age.days,
        "age_seconds": int(age.total_seconds()),
    }


def _purchases(situation: Situation) -> list[dict[str, Any]]:
    out = []
    for event in reversed(situation.events):
        if event.type != "purchase.completed":
            continue
        age = situation.at - event.occurred_at
        if age.days >= RECENT_PURCHASE_DAYS:
            break
        out.append({"order_id": event.data.get("order_id"), "product_ids": event.data.get("product_ids", []),
                    "occurred_at": iso(event.occurred_at), "age_days": age.days,
                    "age_seconds": int(age.total_seconds())})
    return out
