"""Receiving a vendor delivery: check its signature, map it, find each customer, store through ingestion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.core import metrics
from guard.core.errors import GuardError, MalformedDelivery, NotFound, SignatureRejected
from guard.core.vault import SecretUnreadable, unseal
from guard.inbound import KINDS, InvalidSignature, MalformedPayload, Mapped
from guard.situation.aliases import resolve
from guard.situation.events import ingest_batch
from guard.sources.usecases import live
from guard.storage.database import Database
from guard.storage.tables.situation import Event
from guard.storage.tables.sources import Source

UNKNOWN = "(unknown)"  # the metrics label of a source Guard does not know: names in URLs are anyone's text


@dataclass(frozen=True)
class _Customer:
    """Whose event it is, and how Guard knows."""

    customer_id: str | None
    linked: bool
    note: str | None


def receive(db: Database, audit_key: bytes, name: str, headers: Mapping[str, str], raw_body: bytes,
            now: datetime) -> dict[str, Any]:
    """The answer to one delivery for source `name`; NotFound, SignatureRejected or MalformedDelivery otherwise.
    Every delivery is counted in /metrics by source, kind and result."""
    label, kind, result = UNKNOWN, UNKNOWN, "error"
    try:
        with db.sessions() as session:
            source = live(session, name)
            if source is None:
                result = "unknown_source"
                raise NotFound(f"No source named {name!r}.", {"name": name})
            label, kind = source.name, source.kind
            mapped = _verified(source, audit_key, headers, raw_body, now)
            events, notes = _attributed(session, source, mapped)
        answer = _store(db, events, notes, mapped)
        result = answer.pop("_result")
        return answer
    except GuardError as exc:
        if result == "error":
            result = exc.code
        raise
    finally:
        metrics.count_inbound(label, kind, result)


def _verified(source: Source, audit_key: bytes, headers: Mapping[str, str], raw_body: bytes,
              now: datetime) -> Mapped:
    """The delivery mapped to events, once its signature is checked with the source's secret."""
    module = KINDS[source.kind]
    try:
        secret = unseal(audit_key, source.name, source.secret_box)
    except SecretUnreadable:
        # Fail closed: without the secret no delivery can be authenticated (the audit key was changed).
        raise SignatureRejected(f"Guard cannot read source {source.name!r}'s secret (was the audit key changed?); "
                                "add the source again.", {"source": source.name}) from None
    try:
        module.verify(headers, raw_body, secret, now)
    except InvalidSignature as exc:
        raise SignatureRejected(f"The delivery's signature is not valid: {exc}", {"source": source.name}) from None
    try:
        mapped: Mapped = module.to_events(headers, raw_body, customer_field=source.customer_field, now=now)
    except MalformedPayload as exc:
        raise MalformedDelivery(f"The delivery is signed but cannot be read: {exc}", {"source": source.name}) from None
    return mapped


def _attributed(session: Session, source: Source, mapped: Mapped) -> tuple[list[tuple[dict[str, Any], _Customer]],
                                                                          list[str]]:
    """Each event under Guard's customer id (through identity links or the order Guard saw) and its id
    scoped to the source; events whose customer cannot be found are left out with a note."""
    out: list[tuple[dict[str, Any], _Customer]] = []
    notes: list[str] = []
    for raw in mapped.events:
        if raw.get("customer_id") is None:
            customer = _from_order(session, source.name, mapped.order_ref)
        else:
            customer = _from_reference(session, source.name, str(raw["customer_id"]))
        if customer.customer_id is None:
            notes.append(customer.note or "The event names no customer.")
            continue
        if customer.note:
            notes.append(customer.note)
        event = {**raw, "event_id": f"{source.name}:{raw['event_id']}", "customer_id": customer.customer_id}
        out.append((event, customer))
    return out, notes


def alias_of(source_name: str, reference: str) -> str:
    """The identity link a vendor reference is looked up as: `email:<address>` for an e-mail address (any
    source may know it), else `<source>:<vendor id>`."""
    if "@" in reference:
        return "email:" + reference.strip().lower()
    return f"{source_name}:{reference}"


def _from_reference(session: Session, source_name: str, reference: str) -> _Customer:
    alias = alias_of(source_name, reference)
    linked = resolve(session, alias)
    if linked is not None:
        return _Customer(linked, True, None)
    return _Customer(alias, False, f"No identity link for {alias!r}: its events are stored under that id "
                                   "(link it to your customer id with POST /v1/customers/ID/aliases).")


def _from_order(session: Session, source_name: str, order_ref: str | None) -> _Customer:
    """The customer of the purchase Guard recorded for this order (this source's first, then any source's)."""
    if order_ref is None:
        return _Customer(None, False, "The event names neither a customer nor an order.")
    rows = session.execute(
        select(Event.event_id, Event.customer_id)
        .where(Event.type == "purchase.completed", Event.data["order_id"].as_string() == order_ref)
        .order_by(Event.id.desc()).limit(20)).all()
    own = [customer for event_id, customer in rows if event_id.startswith(f"{source_name}:")]
    found = (own or [customer for _, customer in rows])[:1]
    if not found:
        return _Customer(None, False, f"Guard saw no purchase for order {order_ref!r}, so it cannot tell whose "
                                      "this is: nothing was stored for it.")
    return _Customer(found[0], True, None)


def _store(db: Database, events: list[tuple[dict[str, Any], _Customer]], notes: list[str],
           mapped: Mapped) -> dict[str, Any]:
    """Store through event ingestion (validation, caps, the audit chain) and answer per event."""
    stored = []
    if events:
        results = ingest_batch(db, [event for event, _ in events])
        metrics.count_events(r.status for r in results)
        for outcome, (event, customer) in zip(results, events, strict=True):
            item: dict[str, Any] = {"event_id": event["event_id"], "type": event["type"],
                                    "customer_id": event["customer_id"], "status": outcome.status,
                                    "customer_linked": customer.linked}
            if outcome.error:
                item["error"] = outcome.error
            stored.append(item)
    ignored = mapped.ignored
    if ignored is None and not stored:
        ignored = " ".join(notes) or "The delivery maps to no Guard event."
    statuses = {item["status"] for item in stored}
    result = ("ignored" if not stored else "created" if "created" in statuses
              else "duplicate" if statuses == {"duplicate"} else "error")
    return {"events": stored, "ignored": ignored, "notes": notes, "delivery_id": mapped.delivery_id,
            "_result": result}

