"""Reading the audit log: one decision in full, filtered lists with a cursor, a customer's timeline."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.orm import Session

from guard.core.errors import NotFound, ValidationFailed
from guard.core.timeutil import iso
from guard.decisions.answer import decision_answer, held_from_of
from guard.decisions.holding import view_of
from guard.decisions.projector import first_since, last_before, projected_upto
from guard.situation.aliases import Identity, identity
from guard.storage.tables.decisions import Decision, DecisionCampaign, DecisionRule
from guard.storage.tables.situation import Event

MAX_PAGE = 500


def answer_of(session: Session, decision: Decision) -> dict[str, Any]:
    """A recorded decision's answer, with its hold for outcome `hold`."""
    hold = view_of(session, decision.decision_id, held_from_of(decision.request)) if decision.outcome == "hold" \
        else None
    return decision_answer(decision, hold)


def audit_record(decision: Decision, session: Session) -> dict[str, Any]:
    """The full audit record of a decision."""
    return {
        **answer_of(session, decision),
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
    return audit_record(decision, session)


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


def filtered(filters: dict[str, Any], before: int | None = None) -> Select[Any]:
    """Decisions matching the filters (with an id below `before`), newest first, as of the projection
    (guard.decisions.projector): campaign, rule and time are looked up in its index, and decisions it has not
    reached yet are left out, so every filter sees the same log."""
    query = select(Decision)
    key: Any = Decision.id  # what the list is ordered and paged by: the index the filter walks, when one does
    if filters.get("campaign_id"):
        key = DecisionCampaign.decision_pk
        query = query.join(DecisionCampaign, and_(key == Decision.id,
                                                  DecisionCampaign.campaign_id == filters["campaign_id"]))
    if filters.get("rule_id") and key is Decision.id:
        key = DecisionRule.decision_pk
        query = query.join(DecisionRule, and_(key == Decision.id, DecisionRule.rule_id == filters["rule_id"]))
    elif filters.get("rule_id"):
        query = query.where(exists().where(DecisionRule.rule_id == filters["rule_id"],
                                           DecisionRule.decision_pk == Decision.id))
    for name in ("customer_id", "outcome", "channel", "purpose"):
        if filters.get(name):
            query = query.where(getattr(Decision, name) == filters[name])
    query = query.where(key <= projected_upto())
    if filters.get("since"):
        query = query.where(key >= first_since(filters["since"]), Decision.evaluated_at >= filters["since"])
    if filters.get("until"):
        query = query.where(key <= last_before(filters["until"]), Decision.evaluated_at < filters["until"])
    if before is not None:
        query = query.where(key < before)
    return query.order_by(key.desc())


def list_decisions(session: Session, filters: dict[str, Any]) -> dict[str, Any]:
    """A page of decisions and the cursor of the next page (null on the last one)."""
    limit = filters.get("limit") or 50
    query = filtered(filters, decode_cursor(filters["cursor"]) if filters.get("cursor") else None)
    rows = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return {"items": [audit_record(d, session) for d in page], "next_cursor": next_cursor}


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
        items.append((d.send_at, 1, {"kind": "decision", "at": iso(d.send_at), **answer_of(session, d),
                                     "channel": d.channel, "purpose": d.purpose, "campaign_id": d.campaign_id}))
    items.sort(key=lambda item: (item[0], item[1]))
    return [item for _, _, item in items[-limit:]]
