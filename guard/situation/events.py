"""Receiving events: validated, deduplicated by event_id, stored atomically."""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guard.core.canonical import content_hash
from guard.core.errors import EventConflict, ValidationFailed
from guard.core.schemas import load
from guard.core.timeutil import utcnow
from guard.core.vocabulary import KNOWN_EVENT_TYPES
from guard.ledger.chain import Entry, extend
from guard.ledger.digests import event_digest
from guard.situation.schemas import EventSchema
from guard.storage.bulk import EVENT_COLUMNS, insert_rows
from guard.storage.database import Database
from guard.storage.sql import Sql
from guard.storage.tables.situation import Event

_schema = EventSchema()


@dataclass(frozen=True)
class EventResult:
    """What happened to one event of a batch."""

    index: int
    event_id: str | None
    status: str  # created | duplicate | error
    error: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form of a batch item result."""
        out: dict[str, Any] = {"index": self.index, "event_id": self.event_id, "status": self.status}
        if self.error:
            out["error"] = self.error
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def validate_event(raw: Any) -> dict[str, Any]:
    """A validated event, or ValidationFailed with field details."""
    return load(_schema, raw, "event")


def _hash(event: dict[str, Any]) -> str:
    return content_hash({k: event[k] for k in ("customer_id", "type", "occurred_at", "data")})


def type_warnings(event_type: str, known: Collection[str]) -> tuple[str, ...]:
    """A warning for an event type that neither Guard nor the rules give meaning to (a misspelling, often)."""
    if event_type in KNOWN_EVENT_TYPES or event_type in known:
        return ()
    close = difflib.get_close_matches(event_type, sorted({*KNOWN_EVENT_TYPES, *known}), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"Unknown event type {event_type!r}: stored, but no rule uses it.{hint}",)


def ingest_one(db: Database, raw: Any, known: Collection[str] = ()) -> EventResult:
    """Store one event: `created`, or `duplicate` for an identical repeat; EventConflict otherwise."""
    return ingest_batch(db, [raw], single=True, known=known)[0]


def ingest_batch(db: Database, raws: list[Any], single: bool = False, known: Collection[str] = ()
                 ) -> list[EventResult]:
    """Store every valid event of a batch in one transaction; bad or conflicting items get their own error.

    Events of a type unknown to Guard and to the rules (`known` names those the active rules use) are stored
    like any other, with a warning."""
    results: list[EventResult | None] = [None] * len(raws)
    valid: list[tuple[int, dict[str, Any], str]] = []
    for index, raw in enumerate(raws):
        try:
            event = validate_event(raw)
        except ValidationFailed as exc:
            if single:
                raise
            event_id = raw.get("event_id") if isinstance(raw, dict) and isinstance(raw.get("event_id"), str) else None
            results[index] = EventResult(index, event_id, "error", exc.to_dict())
            continue
        valid.append((index, event, _hash(event)))
    types = {index: event["type"] for index, event, _ in valid}
    for attempt in range(3):
        try:
            with db.transaction() as session:
                stored = _store(session, valid, single)
            break
        except IntegrityError:
            # Another request stored one of these event ids meanwhile: look again.
            if attempt == 2:
                raise
    for index, result in stored.items():
        if result.status != "error" and result.event_id is not None:
            warnings = type_warnings(types[index], known)
            result = EventResult(index, result.event_id, result.status, warnings=warnings) if warnings else result
        results[index] = result
    return [r for r in results if r is not None]


def _store(session: Session, valid: list[tuple[int, dict[str, Any], str]], single: bool) -> dict[int, EventResult]:
    ids = [event["event_id"] for _, event, _ in valid]
    existing = _existing_hashes(session, ids)
    out: dict[int, EventResult] = {}
    rows, entries = [], []
    now = utcnow()
    for index, event, digest in valid:
        event_id = event["event_id"]
        known = existing.get(event_id)
        if known is not None:
            if known == digest:
                out[index] = EventResult(index, event_id, "duplicate")
                continue
            conflict = EventConflict(f"Event {event_id!r} was already received with different content.",
                                     {"event_id": event_id})
            if single:
                raise conflict
            out[index] = EventResult(index, event_id, "error", conflict.to_dict())
            continue
        rows.append({"event_id": event_id, "customer_id": event["customer_id"], "type": event["type"],
                     "occurred_at": event["occurred_at"], "data": json.dumps(event["data"]), "content_hash": digest,
                     "received_at": now})
        entries.append(Entry("event", event_id, now, event_digest(event_id, event["customer_id"], event["type"],
                                                                  event["occurred_at"], digest, now)))
        existing[event_id] = digest
        out[index] = EventResult(index, event_id, "created")
    sql = Sql.of_session(session)
    insert_rows(sql, "events", EVENT_COLUMNS, rows)
    extend(sql, entries)
    return out


def _existing_hashes(session: Session, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = session.execute(select(Event.event_id, Event.content_hash).where(Event.event_id.in_(chunk)))
        found.update({event_id: digest for event_id, digest in rows})
    return found
