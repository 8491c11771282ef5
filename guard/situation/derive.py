"""Folds a customer's events, in occurred_at order, into the situation at an instant."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

CASE_EVENTS = {
    "complaint.opened": ("complaint", "open"),
    "complaint.reopened": ("complaint", "open"),
    "complaint.resolved": ("complaint", "close"),
    "refund.requested": ("refund", "open"),
    "refund.completed": ("refund", "close"),
    "refund.rejected": ("refund", "close"),
}
CASE_ID_FIELD = {"complaint": "case_id", "refund": "refund_id"}
CONSENT_EVENTS = ("consent.withdrawn", "consent.given")
PROFILE_FIELDS = ("customer_since", "timezone")
# The types derive() folds into the situation (cases, consent, profile): a decision reads them all.
STATE_TYPES = frozenset({*CASE_EVENTS, *CONSENT_EVENTS, "profile.updated"})


@dataclass(frozen=True)
class EventRecord:
    """One received event, as the situation sees it."""

    event_id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]


@dataclass
class OpenCase:
    """A complaint or refund that is open at the instant of the situation."""

    kind: str
    id: str
    opened_at: datetime
    data: dict[str, Any]
    reopened_at: datetime | None = None


@dataclass
class Situation:
    """What Guard knows of a customer at one instant."""

    at: datetime
    events: list[EventRecord] = field(default_factory=list)
    open_cases: dict[str, list[OpenCase]] = field(default_factory=dict)
    consent: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    customer_since: date | None = None
    timezone: str | None = None

    def cases(self, kind: str) -> list[OpenCase]:
        """Open cases of a kind, oldest first."""
        return self.open_cases.get(kind, [])

    def consent_status(self, channel: str, purpose: str) -> str:
        """`withdrawn`, `given` or `unknown` for a channel and purpose."""
        entry = self.consent.get((channel, purpose))
        return entry[0] if entry else "unknown"


def derive(events: Iterable[EventRecord], at: datetime) -> Situation:
    """The situation at `at`: events after it are ignored, the rest applied in occurred_at order.

    An event id given twice counts once (the first one given): a repeated event is the same event.
    """
    unique: dict[str, EventRecord] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    ordered = sorted((e for e in unique.values() if e.occurred_at <= at), key=lambda e: (e.occurred_at, e.event_id))
    situation = Situation(at=at, events=ordered)
    cases: dict[tuple[str, str], OpenCase] = {}
    for event in ordered:
        _apply(situation, cases, event)
    for case in sorted(cases.values(), key=lambda c: (c.opened_at, c.id)):
        situation.open_cases.setdefault(case.kind, []).append(case)
    return situation


def _apply(situation: Situation, cases: dict[tuple[str, str], OpenCase], event: EventRecord) -> None:
    if event.type in CASE_EVENTS:
        _apply_case(cases, event)
    elif event.type in CONSENT_EVENTS:
        status = "withdrawn" if event.type == "consent.withdrawn" else "given"
        situation.consent[_consent_key(event)] = (status, event.occurred_at)
    elif event.type == "profile.updated":  # the fields of PROFILE_FIELDS
        if event.data.get("customer_since"):
            situation.customer_since = date.fromisoformat(str(event.data["customer_since"])[:10])
        if event.data.get("timezone"):
            situation.timezone = str(event.data["timezone"])


def _consent_key(event: EventRecord) -> tuple[str, str]:
    return str(event.data.get("channel")), str(event.data.get("purpose") or "marketing")


def _case_key(event: EventRecord) -> tuple[str, str]:
    kind = CASE_EVENTS[event.type][0]
    return kind, str(event.data.get(CASE_ID_FIELD[kind]))


def state_bearing(events: Iterable[EventRecord], since: datetime, staying: Collection[str] = ()) -> set[str]:
    """The ids of the events a situation at any instant from `since` on still depends on, besides `staying`
    (those not up for removal): the events that occurred since, the latest of each type (last-event
    conditions), the latest consent per channel and purpose, the latest of each profile field, and every event
    of a case that is open at the end or has any other event kept (a case is kept whole or not at all)."""
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.event_id))
    keep = {e.event_id for e in ordered if e.occurred_at >= since}
    latest: dict[tuple[str, ...], str] = {}
    for event in ordered:
        latest[("type", event.type)] = event.event_id
        if event.type in CONSENT_EVENTS:
            latest[("consent", *_consent_key(event))] = event.event_id
        elif event.type == "profile.updated":
            latest.update((("profile", name), event.event_id) for name in PROFILE_FIELDS if event.data.get(name))
    keep.update(latest.values())
    if ordered:
        final = derive(ordered, max(since, ordered[-1].occurred_at))
        whole = {(case.kind, case.id) for cases in final.open_cases.values() for case in cases}
        case_events = [e for e in ordered if e.type in CASE_EVENTS]
        whole.update(_case_key(e) for e in case_events if e.event_id in keep or e.event_id in staying)
        keep.update(e.event_id for e in case_events if _case_key(e) in whole)
    return keep


def _apply_case(cases: dict[tuple[str, str], OpenCase], event: EventRecord) -> None:
    action = CASE_EVENTS[event.type][1]
    key = _case_key(event)
    kind, case_id = key
    if action == "close":
        cases.pop(key, None)
    elif key not in cases:
        # A case reopened keeps no age from before its resolution: the open period restarts.
        reopened = event.occurred_at if event.type == "complaint.reopened" else None
        cases[key] = OpenCase(kind, case_id, event.occurred_at, dict(event.data), reopened)
