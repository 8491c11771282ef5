"""When a hold is due: from the customer's case events, whether the awaited case is closed now, and since when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from guard.core.schemas import LATEST
from guard.situation.derive import CASE_EVENTS, CASE_ID_FIELD, EventRecord
from guard.situation.history import combined, events_of, identities_of
from guard.storage.sql import Sql

CASE_EVENT_TYPES = tuple(sorted(CASE_EVENTS))


def closed_at(events: Sequence[EventRecord], kind: str, case_id: str) -> datetime | None:
    """When the case last closed, if its latest event (in occurred_at order) closes it; None while it is open
    (or was never seen). A resolution received late but dated in the past counts from its date."""
    state, closed = None, None
    for event in sorted(of_case(events, kind, case_id), key=lambda e: (e.occurred_at, e.event_id)):
        state = CASE_EVENTS[event.type][1]
        closed = event.occurred_at if state == "close" else None
    return closed if state == "close" else None


def of_case(events: Sequence[EventRecord], kind: str, case_id: str) -> list[EventRecord]:
    """The events of one case (a complaint, a refund) among a customer's events: what a hold on it reads."""
    field = CASE_ID_FIELD.get(kind, "id")
    return [e for e in events if CASE_EVENTS.get(e.type, ("", ""))[0] == kind and str(e.data.get(field)) == case_id]


def release_at(events: Sequence[EventRecord], kind: str, case_id: str, after: int) -> datetime | None:
    """The release instant: the close plus the delay, or None while the case is open."""
    closed = closed_at(events, kind, case_id)
    return None if closed is None else closed + timedelta(seconds=after)


def case_events(sql: Sql, customers: Sequence[str]) -> dict[str, list[EventRecord]]:
    """Every case event (complaints, refunds) under each customer's names, keyed by the name asked about."""
    identities = identities_of(sql, customers)
    names = sorted({n for c in customers for n in identities.members(c)})
    found = combined(events_of(sql, names, LATEST, CASE_EVENT_TYPES), identities, customers)
    return {name: found.get(identities.of(name), []) for name in customers}
