"""Reading the audit log: one decision in full, filtered lists with a cursor, a customer's timeline."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from guard.core.errors import NotFound, ValidationFailed
from guard.core.timeutil import iso
from guard.decisions.answer import decision_answer
from guard.situation.aliases import Identity, identity
from guard.storage.tables.decisions import Decision, DecisionFacet, DecisionReason
from guard.storage.tables.situation import Event

MAX_PAGE = 500


def audit_record(decision: Decision) -> dict[str, Any]:
    """The full audit record of a decision."""
    return {
        **decision_answer(decision),
        "customer_id": decision.customer_id,
        "campaign_id": decision.campaign_id,
        "channel": decision.channel,
        "purpose": decision.purpose,
        "send_at": iso(decision.send_at),
        "request": decision.request,
        "facts": decision.facts,
        "api_key_name": decision.api_key_name,
        "idempotency_key": decision.idempotency_key,
    }


def get_decision(session: Session, decision_id: str) -> dict[str, Any]:
    """One decision's audit record, or NotFound."""
    decision = session.scalars(select(Decision).where(Decision.decision_id == decision_id)).first()
    if decision is None:
        raise NotFound(f"No decision {decision_id!r}.", {"decision_id": decision_id})
    return audit_record(decision)


def encode_cursor(pk: int) -> str:
    """An opaque cursor for the next page."""
    return base64.urlsafe_b64encode(f"d:{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; ValidationFailed when it was not made by Guard."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, pk = text.partition(":")
        position = int(pk)
        if prefix != "d" or not 0 <= position < 2**63:  # beyond a 64-bit id the database itself fails
            raise ValueError(cursor)
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("The cursor is not valid.", {"cursor": ["Use next_cursor from a response."]}) from None


def filtered(filters: dict[str, Any]) -> Select[Any]:
    """Decisions matching the filters, newest first, as of the projector's cursor (the facets it wrote are
    where campaign, outcome and time are indexed; decisions not projected yet are not listed)."""
    query = select(Decision).join(DecisionFacet, DecisionFacet.decision_pk == Decision.id)
    for name in ("customer_id", "channel", "purpose"):
        if filters.get(name):
            query = query.where(getattr(Decision, name) == filters[name])
    for name in ("campaign_id", "outcome"):
        if filters.get(name):
            query = query.where(getattr(DecisionFacet, name) == filters[name])
    if filters.get("rule_id"):
        query = query.where(exists().where(DecisionReason.decision_pk == DecisionFacet.decision_pk,
                                           DecisionReason.rule_id == filters["rule_id"]))
    if filters.get("since"):
        query = query.where(DecisionFacet.evaluated_at >= filters["since"])
    if filters.get("until"):
        query = query.where(DecisionFacet.evaluated_at < filters["until"])
    return query.order_by(DecisionFacet.decision_pk.desc())


def list_decisions(session: Session, filters: dict[str, Any]) -> dict[str, Any]:
    """A page of decisions and the cursor of the next page (null on the last one)."""
    limit = filters.get("limit") or 50
    query = filtered(filters)
    if filters.get("cursor"):
        query = query.where(DecisionFacet.decision_pk < decode_cursor(filters["cursor"]))
    rows = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return {"items": [audit_record(d) for d in page], "next_cursor": next_cursor}


def customer_known(session: Session, names: list[str]) -> bool:
    """Whether Guard has any event or decision under any of a customer's names."""
    return bool(
        session.scalar(select(exists().where(Event.customer_id.in_(names))))
        or session.scalar(select(exists().where(Decision.customer_id.in_(names))))
    )


def known_identity(session: Session, customer_id: str) -> Identity:
    """Who a name stands for; NotFound unless Guard has an event, a decision or a link under their names."""
    who = identity(session, customer_id) if "\x00" not in customer_id else None
    if who is None or not (who.aliases or customer_known(session, [customer_id])):
        raise NotFound(f"Guard knows nothing of customer {customer_id!r}.", {"customer_id": customer_id})
    return who


def timeline(session: Session, names: list[str], limit: int = 1000) -> list[dict[str, Any]]:
    """Events (by occurred_at) and decisions (by send_at) under a customer's names, interleaved in time order."""
    events = session.scalars(select(Event).where(Event.customer_id.in_(names))
                             .order_by(Event.occurred_at.desc()).limit(limit))
    decisions = session.scalars(select(Decision).where(Decision.customer_id.in_(names))
                                .order_by(Decision.send_at.desc()).limit(limit))
    items: list[tuple[datetime, int, dict[str, Any]]] = []
    for e in events:
        items.append((e.occurred_at, 0, {"kind": "event", "at": iso(e.occurred_at), "event_id": e.event_id,
                                         "type": e.type, "data": e.data, "received_at": iso(e.received_at)}))
    for d in decisions:
        items.append((d.send_at, 1, {"kind": "decision", "at": iso(d.send_at), **decision_answer(d),
                                     "channel": d.channel, "purpose": d.purpose, "campaign_id": d.campaign_id}))
    items.sort(key=lambda item: (item[0], item[1]))
    return [item for _, _, item in items[-limit:]]
