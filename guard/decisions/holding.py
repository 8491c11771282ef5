"""Holds on the decision path (issue 15): the opt-in's expiry, the hold written with the decision that makes it,
and the hold a stored `hold` answer shows."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.core.config import DEFAULT_HOLD_DAYS, MAX_HOLD_DAYS
from guard.core.errors import ValidationFailed
from guard.core.message import Message
from guard.core.timeutil import iso
from guard.decisions.answer import hold_view
from guard.policy.evaluate import Release, Verdict
from guard.storage.bulk import insert_tuples
from guard.storage.sql import Sql, chunks, member_of
from guard.storage.tables.holds import Hold

# Request fields a held message is decided again without: who asked how, and the opt-in itself.
_NOT_HELD = ("idempotency_key", "dry_run", "rules_version", "hold")
_COLUMNS = ("hold_id", "customer_id", "campaign_id", "request", "decision_id", "rule_id", "waiting_kind",
            "waiting_case_id", "waiting_after", "release_at", "expires_at", "status", "resolution_decision_id",
            "api_key_name", "created_at", "updated_at")
_VIEW = "SELECT decision_id, hold_id, expires_at, waiting_kind, waiting_case_id, waiting_after FROM holds"

_default_days = DEFAULT_HOLD_DAYS


def use_hold_days(days: int) -> None:
    """This process's default hold expiry in days (GUARD_HOLD_DAYS), set once at start."""
    global _default_days
    _default_days = days


def hold_expiry(option: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When a hold the request accepts would expire (None: the request accepts no hold); ValidationFailed
    for an expiry in the past or beyond MAX_HOLD_DAYS."""
    if option is None:
        return None
    expires_at = option.get("expires_at")
    if expires_at is None:
        return now + timedelta(days=_default_days)
    if expires_at <= now:
        raise ValidationFailed("A hold cannot expire in the past.",
                               {"hold": {"expires_at": ["Must be in the future."]}})
    if expires_at > now + timedelta(days=MAX_HOLD_DAYS):
        raise ValidationFailed(f"A hold lasts at most {MAX_HOLD_DAYS} days.",
                               {"hold": {"expires_at": [f"At most {MAX_HOLD_DAYS} days from now."]}})
    return expires_at


def held(verdict: Verdict) -> Verdict:
    """The verdict recorded for a block the sender agreed to wait out: outcome `hold`, the same reasons."""
    return Verdict("hold", None, None, verdict.reasons, verdict.facts)


def new_hold_id() -> str:
    """A fresh hold id."""
    return f"hold_{uuid.uuid4().hex}"


@dataclass
class NewHold:
    """A hold to be written with the decision that makes it."""

    hold_id: str
    customer_id: str
    campaign_id: str | None
    request: dict[str, Any]
    decision_id: str
    rule_id: str
    release: Release
    expires_at: datetime
    api_key_name: str | None

    def view(self) -> dict[str, Any]:
        """The `hold` of the answer."""
        return hold_view(self.hold_id, self.expires_at, self.release.kind, self.release.case_id, self.release.after)


def held_request(raw: dict[str, Any], message: Message) -> dict[str, Any]:
    """What is kept of a request to decide it again: the message, its send time made explicit."""
    request = {k: v for k, v in raw.items() if k not in _NOT_HELD}
    request["send_at"] = iso(message.send_at)
    return request


def insert_holds(sql: Sql, holds: list[NewHold], now: datetime) -> None:
    """Write the holds made by a group of decisions, in the decisions' transaction."""
    insert_tuples(sql, "holds", _COLUMNS, [
        (h.hold_id, h.customer_id, h.campaign_id, json.dumps(h.request, separators=(",", ":")), h.decision_id,
         h.rule_id, h.release.kind, h.release.case_id, h.release.after, None, sql.time(h.expires_at), "waiting",
         None, h.api_key_name, sql.time(now), sql.time(now)) for h in holds], prepared=True)


def views_by_decision(sql: Sql, decision_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The `hold` answers of the decisions that made holds."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(decision_ids):
        member, params = member_of(sql, "decision_id", chunk)
        for decision_id, hold_id, expires_at, kind, case_id, after in sql.rows(f"{_VIEW} WHERE {member}", params):
            out[decision_id] = hold_view(hold_id, sql.read_time(expires_at), kind, case_id, after)  # type: ignore[arg-type]
    return out


def view_of(session: Session, decision_id: str, held_from: str | None) -> dict[str, Any] | None:
    """The `hold` answer of a recorded `hold` decision: the hold it made, or the hold it kept waiting."""
    query = select(Hold).where(Hold.hold_id == held_from) if held_from else select(Hold).where(
        Hold.decision_id == decision_id)
    hold = session.scalars(query).first()
    if hold is None:
        return None
    return hold_view(hold.hold_id, hold.expires_at, hold.waiting_kind, hold.waiting_case_id, hold.waiting_after)
