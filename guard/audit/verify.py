"""Re-computing the chain: the first record altered, removed or inserted is named."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.audit.digests import (
    decision_digest,
    event_digest,
    facts_digest,
    link_hash,
    request_digest,
    values_digest,
)
from guard.audit.models import AuditCheckpoint, AuditErasure, AuditRecord
from guard.auth.keys import key_digest
from guard.auth.models import ApiKey
from guard.canonical import content_hash
from guard.decisions.models import Decision
from guard.lifecycle.models import RuleActivation, RuleVersion
from guard.lifecycle.versions import activation_digest, version_digest
from guard.situation.models import Event, Suppression
from guard.timeutil import iso

CHUNK = 2000


@dataclass(frozen=True)
class Problem:
    """What is wrong with the log, at which record."""

    kind: str  # altered | removed | inserted | broken_link
    seq: int | None
    record: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "seq": self.seq, "record": self.record, "message": self.message}


@dataclass
class Report:
    """The outcome of a verification."""

    records: int = 0
    head: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ok": self.ok, "records": self.records, "head": self.head,
                "first_problem": self.problems[0].to_dict() if self.problems else None}


def verify(session: Session) -> Report:
    """Walk the chain from the last checkpoint; stop at the first problem."""
    report = Report()
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    seq, prev = (checkpoint.upto_seq, checkpoint.upto_hash) if checkpoint else (0, "0" * 64)
    erased = _erased_events(session)
    scrubbed = _scrubbed_decisions(session)
    seen: dict[str, set[str]] = {"decision": set(), "event": set()}
    for chunk in _chunks(session):
        contents = _contents(session, chunk)
        for record in chunk:
            problem = _check(record, seq, prev, contents, erased, scrubbed)
            if problem:
                report.problems.append(problem)
                return report
            if record.kind in seen:
                seen[record.kind].add(record.ref)
            seq, prev = record.seq, record.hash
            report.records += 1
    report.head = prev
    inserted = _unchained(session, seen)
    if inserted:
        report.problems.append(inserted)
    return report


def _chunks(session: Session) -> Iterator[list[AuditRecord]]:
    last = -1
    while True:
        rows = list(session.scalars(select(AuditRecord).where(AuditRecord.seq > last)
                                    .order_by(AuditRecord.seq).limit(CHUNK)))
        if not rows:
            return
        yield rows
        last = rows[-1].seq
        session.expunge_all()


def _check(record: AuditRecord, seq: int, prev: str, contents: dict[tuple[str, str], str | None],
           erased: set[str], scrubbed: dict[str, str]) -> Problem | None:
    name = f"{record.kind} {record.ref}"
    if record.seq != seq + 1 or record.prev_hash != prev:
        return Problem("removed" if record.seq > seq + 1 else "broken_link", record.seq, name,
                       f"record {record.seq} does not follow record {seq}: a record before it was removed "
                       "or inserted, or its link was altered")
    if link_hash(prev, record.seq, record.kind, record.ref, record.at, record.digest) != record.hash:
        return Problem("altered", record.seq, name, f"record {record.seq} was altered (its hash does not match)")
    current = contents.get((record.kind, record.ref))
    if current is None:
        if record.kind == "event" and record.ref in erased:
            return None
        return Problem("removed", record.seq, name, f"the {name} recorded at {record.seq} is gone")
    if current != record.digest and not (record.kind == "decision" and scrubbed.get(record.ref) == current):
        return Problem("altered", record.seq, name, f"the {name} recorded at {record.seq} was altered")
    return None


def _contents(session: Session, chunk: list[AuditRecord]) -> dict[tuple[str, str], str | None]:
    """The digest of each referenced row as it is now (absent when the row is gone)."""
    by_kind: dict[str, list[str]] = {}
    for record in chunk:
        by_kind.setdefault(record.kind, []).append(record.ref)
    out: dict[tuple[str, str], str | None] = {}
    for kind, refs in by_kind.items():
        loader = _LOADERS.get(kind)
        if loader is not None:
            out.update(((kind, ref), digest) for ref, digest in loader(session, refs))
    return out


def _decisions(session: Session, refs: list[str]) -> Iterator[tuple[str, str]]:
    for d in session.scalars(select(Decision).where(Decision.decision_id.in_(refs))):
        row = {"decision_id": d.decision_id, "customer_id": d.customer_id, "campaign_id": d.campaign_id,
               "channel": d.channel, "purpose": d.purpose, "send_at": d.send_at, "outcome": d.outcome,
               "route": d.route, "defer_until": d.defer_until, "rules_version": d.rules_version,
               "evaluated_at": d.evaluated_at, "idempotency_key": d.idempotency_key}
        reasons = [(r.rule_id, r.outcome, r.explanation) for r in d.reasons]
        facts = json.dumps(d.facts, separators=(",", ":"))
        yield d.decision_id, decision_digest(row, reasons, request_digest(d.request), facts_digest(facts))


def _events(session: Session, refs: list[str]) -> Iterator[tuple[str, str]]:
    for e in session.scalars(select(Event).where(Event.event_id.in_(refs))):
        # Recomputed from the content, not read from the stored hash: an edited payload must show.
        recomputed = content_hash({"customer_id": e.customer_id, "type": e.type, "occurred_at": e.occurred_at,
                                   "data": e.data})
        yield e.event_id, event_digest(e.event_id, e.customer_id, e.type, e.occurred_at, recomputed, e.received_at)


def _versions(session: Session, refs: list[str]) -> Iterator[tuple[str, str]]:
    for v in session.scalars(select(RuleVersion).where(RuleVersion.number.in_([int(r) for r in refs]))):
        yield str(v.number), version_digest(v)


def _activations(session: Session, refs: list[str]) -> Iterator[tuple[str, str]]:
    for a in session.scalars(select(RuleActivation).where(RuleActivation.id.in_([int(r) for r in refs]))):
        yield str(a.id), activation_digest(a)


def _keys(session: Session, refs: list[str]) -> Iterator[tuple[str, str]]:
    ids = {int(r.split(":")[0]) for r in refs}
    for key in session.scalars(select(ApiKey).where(ApiKey.id.in_(ids))):
        yield f"{key.id}:created", key_digest(key, "created")
        if key.revoked_at is not None:
            yield f"{key.id}:revoked", key_digest(key, "revoked")


def _erasures(session: Session, refs: list[str]) -> Iterator[tuple[str, str]]:
    ids = [int(r) for r in refs]
    markers: dict[int, list[Suppression]] = {}
    for marker in session.scalars(select(Suppression).where(Suppression.erasure_id.in_(ids))):
        markers.setdefault(marker.erasure_id, []).append(marker)
    for e in session.scalars(select(AuditErasure).where(AuditErasure.id.in_(ids))):
        yield str(e.id), erasure_digest(e, markers.get(e.id, []))


def erasure_digest(erasure: AuditErasure, markers: list[Suppression]) -> str:
    """An erasure's account: what it removed, the decisions it scrubbed (with what they now hold) and the
    suppression markers it left (an erasure of neither keeps its earlier digest)."""
    values: list[Any] = [erasure.id, erasure.customer_digest, len(erasure.event_ids), erasure.decisions]
    if erasure.scrubbed or markers:
        left = sorted((m.customer_digest, m.channel, m.purpose, iso(m.since) or "") for m in markers)
        values.append(values_digest([*(f"{k}={v}" for k, v in sorted((erasure.scrubbed or {}).items())),
                                     *(" ".join(m) for m in left)]))
    return values_digest(values)


def current_digests(session: Session, kind: str, refs: list[str]) -> dict[str, str]:
    """The digests of the rows a record of `kind` would name, as they are now (for re-chaining them)."""
    return dict(_LOADERS[kind](session, refs))


def _purges(session: Session, refs: list[str]) -> Iterator[tuple[str, str]]:
    for c in session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.upto_seq.in_([int(r) for r in refs]))):
        yield str(c.upto_seq), values_digest([c.upto_seq, c.upto_hash, c.before])


_LOADERS: dict[str, Callable[[Session, list[str]], Iterator[tuple[str, str]]]] = {
    "decision": _decisions,
    "event": _events,
    "rule_version": _versions,
    "activation": _activations,
    "key": _keys,
    "erasure": _erasures,
    "purge": _purges,
}


def _erased_events(session: Session) -> set[str]:
    out: set[str] = set()
    for ids in session.scalars(select(AuditErasure.event_ids)):
        out.update(ids)
    return out


def _scrubbed_decisions(session: Session) -> dict[str, str]:
    out: dict[str, str] = {}
    for scrubbed in session.scalars(select(AuditErasure.scrubbed)):
        out.update(scrubbed or {})
    return out


def _unchained(session: Session, seen: dict[str, set[str]]) -> Problem | None:
    """The first decision or event that no record covers: it was inserted behind the log's back."""
    for decision_id, in session.execute(select(Decision.decision_id).order_by(Decision.id)):
        if decision_id not in seen["decision"]:
            return Problem("inserted", None, f"decision {decision_id}",
                           f"decision {decision_id} is not in the audit chain: it was inserted")
    for event_id, in session.execute(select(Event.event_id).order_by(Event.id)):
        if event_id not in seen["event"]:
            return Problem("inserted", None, f"event {event_id}", f"event {event_id} is not in the audit chain")
    return None

