"""Adding, listing and removing sources; every change is chained in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guard.core.errors import Conflict, NotFound
from guard.core.schemas import load
from guard.core.timeutil import iso, utcnow
from guard.core.vault import seal
from guard.ledger.chain import Entry, append
from guard.ledger.digests import values_digest
from guard.sources.schemas import NAME_PATTERN, SourceInput
from guard.storage.database import Database
from guard.storage.tables.sources import Source

_input = SourceInput()


def inbound_path(name: str) -> str:
    """The URL path a vendor is given for a source."""
    return f"/v1/inbound/{name}"


def add_source(db: Database, audit_key: bytes, raw: Any, actor: str) -> dict[str, Any]:
    """Validate and store a source with its secret encrypted; Conflict when the name is taken."""
    data = load(_input, raw, "source")
    name = data["name"]
    try:
        with db.transaction() as session:
            if live(session, name) is not None:
                raise _taken(name)
            source = Source(name=name, live_name=name, kind=data["kind"],
                            secret_box=seal(audit_key, name, data["secret"]),
                            customer_field=data["customer_field"], created_by=actor[:200], created_at=utcnow())
            session.add(source)
            session.flush()
            append(session, [Entry("source", f"{source.id}:created", source.created_at,
                                   source_digest(source, "created"))])
            return describe(source)
    except IntegrityError:
        raise _taken(name) from None  # added by another request meanwhile


def _taken(name: str) -> Conflict:
    return Conflict(f"A source named {name!r} exists; remove it first.", {"name": name})


def live(session: Session, name: str) -> Source | None:
    """The live source of that name, if any (a name no source could have is not looked up: it comes from a URL)."""
    if not NAME_PATTERN.fullmatch(name):
        return None
    return session.scalars(select(Source).where(Source.live_name == name, Source.removed_at.is_(None))).first()


def get_source(session: Session, name: str) -> Source:
    """The live source of that name, or NotFound."""
    source = live(session, name)
    if source is None:
        raise NotFound(f"No source named {name!r}.", {"name": name})
    return source


def list_sources(session: Session) -> list[Source]:
    """Every live source, by name."""
    return list(session.scalars(select(Source).where(Source.live_name.is_not(None)).order_by(Source.name)))


def remove_source(db: Database, name: str) -> dict[str, Any]:
    """Stop accepting deliveries for a source; its row stays (without the name) for the audit chain."""
    with db.transaction() as session:
        source = get_source(session, name)
        source.live_name = None
        source.removed_at = utcnow()
        session.flush()
        append(session, [Entry("source", f"{source.id}:removed", source.removed_at,
                               source_digest(source, "removed"))])
        return describe(source)


def describe(source: Source) -> dict[str, Any]:
    """A source as the API, CLI and console show it: never its secret."""
    return {"name": source.name, "kind": source.kind, "customer_field": source.customer_field,
            "path": inbound_path(source.name), "created_at": iso(source.created_at),
            "created_by": source.created_by, "removed_at": iso(source.removed_at)}


def source_digest(source: Source, action: str) -> str:
    """What the audit chain records of a source's creation or removal (the secret only as its ciphertext)."""
    when = source.created_at if action == "created" else source.removed_at
    return values_digest([source.id, action, source.name, source.kind, source.customer_field or "",
                          source.secret_box, source.created_by, when])
