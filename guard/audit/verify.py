"""Re-computing the chain: the first record altered, removed or inserted is named."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from guard.audit.groups import Group, digest_of, load_groups
from guard.auth.keys import key_digest
from guard.core.canonical import content_hash
from guard.core.timeutil import iso
from guard.ledger.chain import DECISION_GROUP
from guard.ledger.digests import (
    GENESIS,
    epoch_digest,
    erasure_digest,
    event_digest,
    head_signature,
    key_id,
    link_hash,
    purge_digest,
    values_digest,
)
from guard.lifecycle.versions import activation_digest, version_digest
from guard.outbound.subscriptions import KIND as SUBSCRIPTION
from guard.outbound.subscriptions import subscription_digest
from guard.situation.aliases import KIND as ALIAS
from guard.situation.aliases import link_digest, unlink_digest
from guard.sources.usecases import source_digest
from guard.storage.tables.audit import AuditCheckpoint, AuditErasure, AuditRecord
from guard.storage.tables.auth import ApiKey
from guard.storage.tables.decisions import Decision
from guard.storage.tables.lifecycle import RuleActivation, RuleVersion
from guard.storage.tables.outbound import WebhookSubscription
from guard.storage.tables.situation import CustomerAlias, Event, Suppression
from guard.storage.tables.sources import Source

CHUNK = 2000
# The kinds whose rows must each have a record (rows without one were inserted behind the log's back).
_VOUCHED = ("decision", "event", "rule_version", "activation", "key", "source", "alias", SUBSCRIPTION)
Contents = dict[tuple[str, str], str | None]


@dataclass(frozen=True)
class Problem:
    """What is wrong with the log, at which record."""

    kind: str  # altered | removed | inserted | broken_link | truncated
    seq: int | None
    record: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "seq": self.seq, "record": self.record, "message": self.message}


@dataclass(frozen=True)
class Head:
    """An exported chain head (`guard audit head`): the newest record's number, hash and time, signed."""

    seq: int
    hash: str
    at: str
    key_id: str = ""
    signature: str = ""

    @classmethod
    def signed(cls, seq: int, hash_: str, at: str) -> Head:
        """A head signed with this process's audit key."""
        return cls(seq, hash_, at, key_id(), head_signature(seq, hash_, at))

    @property
    def authentic(self) -> bool:
        """True when the signature was made with this process's audit key."""
        return hmac.compare_digest(self.signature, head_signature(self.seq, self.hash, self.at))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what `guard audit head` prints)."""
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "key_id": self.key_id,
                "signature": self.signature}


@dataclass
class Report:
    """The outcome of a verification."""

    records: int = 0
    legacy: int = 0  # records chained before keying (plain SHA-256), pinned by the keyed epoch record after them
    head_seq: int = 0
    head: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ok": self.ok, "records": self.records, "legacy_records": self.legacy, "head_seq": self.head_seq,
                "head": self.head, "first_problem": self.problems[0].to_dict() if self.problems else None}


@dataclass
class _Walk:
    """Where the walk is (the last good record), what it checks against, and the rows it has seen chained."""

    seq: int
    prev: str
    epoch: int | None  # the epoch record's seq: only records before it may be legacy
    checkpoint: AuditCheckpoint | None
    since: Head | None
    seen: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in _VOUCHED})


def current_head(session: Session) -> Head:
    """The newest record as a signed head (after a purge of everything, the checkpoint's)."""
    record = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).first()
    if record is not None:
        return Head.signed(record.seq, record.hash, iso(record.at) or "")
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    if checkpoint is not None:
        return Head.signed(checkpoint.upto_seq, checkpoint.upto_hash, iso(checkpoint.created_at) or "")
    return Head.signed(0, GENESIS, "")


def verify(session: Session, since: Head | None = None, progress: Callable[[int], object] | None = None) -> Report:
    """Walk the chain from the last checkpoint; stop at the first problem. `since`: an exported head that
    must still be in the chain (records after it may follow; records up to it must not have been removed);
    `progress` hears of each chunk walked."""
    report = Report()
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    epoch = session.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.kind == "epoch"))
    walk = _Walk(checkpoint.upto_seq if checkpoint else 0, checkpoint.upto_hash if checkpoint else GENESIS,
                 epoch, checkpoint, since)
    problem = _unvouched_checkpoint(session, checkpoint) or _walk(session, walk, report, progress)
    if problem is None:
        report.head_seq, report.head = walk.seq, walk.prev
        problem = _truncated(walk, since) or _unchained(session, walk.seen) \
            or _unvouched_setup(session, walk.seen, checkpoint)
    if problem is not None:
        report.problems.append(problem)
    return report


def _walk(session: Session, walk: _Walk, report: Report,
          progress: Callable[[int], object] | None = None) -> Problem | None:
    erased, scrubbed = _erasure_excuses(session, walk.epoch)
    # A link row may be gone only if a chained unlink record says so (the walk checks that record's link).
    unlinked = set(session.scalars(select(AuditRecord.ref).where(AuditRecord.kind == ALIAS,
                                                                 AuditRecord.ref.like("%:unlinked"))))
    for chunk in _chunks(session):
        contents = _contents(session, chunk, legacy=False)
        groups = load_groups(session, [r.ref for r in chunk if r.kind == DECISION_GROUP], scrubbed)
        legacy: Contents | None = None
        for record in chunk:
            is_legacy = _is_legacy(record, walk)
            if is_legacy and legacy is None:
                legacy = _contents(session, chunk, legacy=True)
            problem = _check(record, walk.seq, walk.prev, (legacy if is_legacy else contents) or {}, erased,
                             scrubbed, is_legacy, unlinked, groups.get(record.ref))
            if problem is None and walk.since is not None and record.seq == walk.since.seq \
                    and record.hash != walk.since.hash:
                problem = Problem("altered", record.seq, f"{record.kind} {record.ref}",
                                  f"record {record.seq} is not the one the exported head names: the chain was "
                                  "rewritten from there")
            if problem:
                return problem
            if record.kind in walk.seen:
                walk.seen[record.kind].add(record.ref)
            elif record.kind == DECISION_GROUP:
                walk.seen["decision"].update(groups[record.ref].ids)
            walk.seq, walk.prev = record.seq, record.hash
            report.records += 1
            report.legacy += is_legacy
        if progress is not None:
            progress(len(chunk))
    return None


def _is_legacy(record: AuditRecord, walk: _Walk) -> bool:
    """Legacy (unkeyed) only before the epoch record, and only if the keyed form does not match."""
    if walk.epoch is None or record.seq >= walk.epoch:
        return False
    return link_hash(walk.prev, record.seq, record.kind, record.ref, record.at, record.digest,
                     legacy=True) == record.hash


def _unvouched_checkpoint(session: Session, checkpoint: AuditCheckpoint | None) -> Problem | None:
    """A checkpoint hides what was before it: it counts only if a chained purge record (walked later) names it."""
    if checkpoint is None:
        return None
    vouched = session.scalar(select(AuditRecord.seq).where(
        AuditRecord.kind == "purge", AuditRecord.ref == str(checkpoint.upto_seq),
        AuditRecord.seq > checkpoint.upto_seq).limit(1))
    if vouched is not None:
        return None
    return Problem("removed", checkpoint.upto_seq, f"checkpoint {checkpoint.id}",
                   f"checkpoint {checkpoint.id} (records up to {checkpoint.upto_seq} purged) is vouched by no "
                   "chained purge record: the records before it were removed")


def _truncated(walk: _Walk, since: Head | None) -> Problem | None:
    """The exported head is newer than the chain's end: the newest records were removed."""
    if since is None:
        return None
    if since.seq > walk.seq:
        return Problem("truncated", walk.seq + 1, f"record {walk.seq + 1}",
                       f"the chain ends at record {walk.seq} but the exported head names record {since.seq} "
                       f"({since.at}): records {walk.seq + 1} to {since.seq} were removed")
    checkpoint = walk.checkpoint
    if checkpoint is not None and since.seq == checkpoint.upto_seq and since.hash != checkpoint.upto_hash:
        return Problem("altered", since.seq, f"checkpoint {checkpoint.id}",
                       f"the checkpoint at record {since.seq} is not the record the exported head names")
    return None


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


def _check(record: AuditRecord, seq: int, prev: str, contents: Contents, erased: dict[str, bool],
           scrubbed: dict[str, str], legacy: bool, unlinked: frozenset[str] | set[str] = frozenset(),
           group: Group | None = None) -> Problem | None:
    name = f"{record.kind} {record.ref}"
    if record.seq != seq + 1 or record.prev_hash != prev:
        return Problem("removed" if record.seq > seq + 1 else "broken_link", record.seq, name,
                       f"record {record.seq} does not follow record {seq}: a record before it was removed "
                       "or inserted, or its link was altered")
    if not legacy and link_hash(prev, record.seq, record.kind, record.ref, record.at, record.digest) != record.hash:
        return Problem("altered", record.seq, name, f"record {record.seq} was altered (its keyed hash does not "
                       "match: rewritten without the audit key, or verified with another key)")
    if record.kind == DECISION_GROUP:
        found = (group or Group(record.ref)).root_problem(record.digest)
        return Problem(found[0], record.seq, found[1], f"{found[2]} (group record {record.seq})") if found else None
    current = contents.get((record.kind, record.ref))
    if current is None:
        excuse = erased.get(record.ref) if record.kind == "event" else None
        if excuse:
            return None
        if record.kind == ALIAS and record.ref.replace(":linked", ":unlinked") in unlinked:
            return None
        why = " (an erasure row names it, but no chained record vouches for that row)" if excuse is False else ""
        return Problem("removed", record.seq, name, f"the {name} recorded at {record.seq} is gone{why}")
    if current != record.digest and not (record.kind == "decision" and scrubbed.get(record.ref) == current):
        return Problem("altered", record.seq, name, f"the {name} recorded at {record.seq} was altered")
    return None


def _contents(session: Session, chunk: list[AuditRecord], legacy: bool) -> Contents:
    """The digest of each referenced row as it is now (absent when the row is gone); `legacy`: in the
    form records chained before keying used."""
    by_kind: dict[str, list[str]] = {}
    for record in chunk:
        by_kind.setdefault(record.kind, []).append(record.ref)
    out: Contents = {}
    for kind, refs in by_kind.items():
        loader = _LOADERS.get(kind)
        if loader is not None:
            out.update(((kind, ref), digest) for ref, digest in loader(session, refs, legacy))
    return out


def _decisions(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    for d in session.scalars(select(Decision).where(Decision.decision_id.in_(refs))):
        yield d.decision_id, digest_of(d, legacy)


def _events(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    for e in session.scalars(select(Event).where(Event.event_id.in_(refs))):
        # Recomputed from the content, not read from the stored hash: an edited payload must show.
        recomputed = content_hash({"customer_id": e.customer_id, "type": e.type, "occurred_at": e.occurred_at,
                                   "data": e.data})
        yield e.event_id, event_digest(e.event_id, e.customer_id, e.type, e.occurred_at, recomputed,
                                       e.received_at, legacy)


def _versions(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    for v in session.scalars(select(RuleVersion).where(RuleVersion.number.in_([int(r) for r in refs]))):
        yield str(v.number), version_digest(v, legacy)


def _activations(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    for a in session.scalars(select(RuleActivation).where(RuleActivation.id.in_([int(r) for r in refs]))):
        yield str(a.id), activation_digest(a)


def _keys(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    ids = {int(r.split(":")[0]) for r in refs}
    for key in session.scalars(select(ApiKey).where(ApiKey.id.in_(ids))):
        yield f"{key.id}:created", key_digest(key, "created")
        if key.revoked_at is not None:
            yield f"{key.id}:revoked", key_digest(key, "revoked")


def _aliases(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    # A ref Guard did not write (not a number) names no row: the record is then reported as removed.
    ids = {int(r.split(":")[0]) for r in refs if r.endswith(":linked") and r.split(":")[0].isdigit()}
    for row in session.scalars(select(CustomerAlias).where(CustomerAlias.id.in_(ids))):
        yield f"{row.id}:linked", link_digest(row)
    for ref in refs:
        if ref.endswith(":unlinked") and ref.split(":")[0].isdigit():
            # An unlink has no row left: its content is which link ended, held by the record itself.
            yield ref, unlink_digest(int(ref.split(":")[0]))


def _sources(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    ids = {int(r.split(":")[0]) for r in refs}
    for source in session.scalars(select(Source).where(Source.id.in_(ids))):
        yield f"{source.id}:created", source_digest(source, "created")
        if source.removed_at is not None:
            yield f"{source.id}:removed", source_digest(source, "removed")


def _subscriptions(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    ids = {int(r.split(":")[0]) for r in refs if r.split(":")[0].isdigit()}
    for row in session.scalars(select(WebhookSubscription).where(WebhookSubscription.id.in_(ids))):
        yield f"{row.id}:created", subscription_digest(row, "created")
        if row.removed_at is not None:
            yield f"{row.id}:removed", subscription_digest(row, "removed")


def _erasures(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    ids = [int(r) for r in refs]
    markers: dict[int, list[Suppression]] = {}
    for marker in session.scalars(select(Suppression).where(Suppression.erasure_id.in_(ids))):
        markers.setdefault(marker.erasure_id, []).append(marker)
    for e in session.scalars(select(AuditErasure).where(AuditErasure.id.in_(ids))):
        yield str(e.id), erasure_account(e, markers.get(e.id, []), legacy)


def erasure_account(erasure: AuditErasure, markers: list[Suppression], legacy: bool = False) -> str:
    """An erasure's digest: what it removed, and the decisions it scrubbed (with what they now hold) and the
    suppression markers it left (an erasure of neither keeps the plain form)."""
    left = ""
    if erasure.scrubbed or markers:
        kept = sorted((m.customer_digest, m.channel, m.purpose, iso(m.since) or "") for m in markers)
        left = values_digest([*(f"{k}={v}" for k, v in sorted((erasure.scrubbed or {}).items())),
                              *(" ".join(m) for m in kept)])
    return erasure_digest(erasure.id, erasure.customer_digest, erasure.event_ids, erasure.decisions,
                          erasure.created_at, legacy, left)


def current_digests(session: Session, kind: str, refs: list[str]) -> dict[str, str]:
    """The digests of the rows a record of `kind` would name, as they are now (for re-chaining them)."""
    return dict(_LOADERS[kind](session, refs, False))


def _purges(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    for c in session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.upto_seq.in_([int(r) for r in refs]))):
        yield str(c.upto_seq), purge_digest(c.upto_seq, c.upto_hash, c.before, c.created_at, c.counts, legacy)


def _epochs(session: Session, refs: list[str], legacy: bool) -> Iterator[tuple[str, str]]:
    # The epoch record has no row of its own: its content is where keying began and under which key.
    return ((ref, epoch_digest(int(ref))) for ref in refs)


_LOADERS: dict[str, Callable[[Session, list[str], bool], Iterator[tuple[str, str]]]] = {
    "decision": _decisions,
    "event": _events,
    "rule_version": _versions,
    "activation": _activations,
    "key": _keys,
    "source": _sources,
    SUBSCRIPTION: _subscriptions,
    ALIAS: _aliases,
    "erasure": _erasures,
    "purge": _purges,
    "epoch": _epochs,
}


def _erasure_excuses(session: Session, epoch: int | None) -> tuple[dict[str, bool], dict[str, str]]:
    """The events named by erasure rows (True when a chained record vouches for the row: an erasure row alone
    excuses nothing; the walk then checks the vouching record's own link, else False), and the digests of
    the decisions that vouched erasures scrubbed."""
    events: dict[str, bool] = {}
    scrubbed: dict[str, str] = {}
    markers: dict[int, list[Suppression]] = {}
    for marker in session.scalars(select(Suppression)):
        markers.setdefault(marker.erasure_id, []).append(marker)
    rows = session.execute(select(AuditErasure, AuditRecord.seq, AuditRecord.digest).outerjoin(
        AuditRecord, (AuditRecord.kind == "erasure") & (AuditRecord.ref == cast(AuditErasure.id, String))))
    for erasure, record_seq, record_digest in rows:
        legacy = epoch is not None and record_seq is not None and record_seq < epoch
        vouched = record_digest is not None and record_digest == erasure_account(
            erasure, markers.get(erasure.id, []), legacy)
        for event_id in erasure.event_ids:
            events[event_id] = events.get(event_id, False) or vouched
        if vouched:
            scrubbed.update(erasure.scrubbed or {})
    return events, scrubbed


def _unchained(session: Session, seen: dict[str, set[str]]) -> Problem | None:
    """The first decision or event that no record covers: it was inserted behind the log's back."""
    for decision_id, in session.execute(select(Decision.decision_id).order_by(Decision.id)):
        if decision_id not in seen["decision"]:
            return Problem("inserted", None, f"decision {decision_id}",
                           f"decision {decision_id} is not in the audit chain: it was inserted")
    for event_id, in session.execute(select(Event.event_id).order_by(Event.id)):
        if event_id not in seen["event"]:
            return Problem("inserted", None, f"event {event_id}", f"event {event_id} is not in the audit chain")
    for row_id, in session.execute(select(CustomerAlias.id).order_by(CustomerAlias.id)):
        if f"{row_id}:linked" not in seen[ALIAS]:
            return Problem("inserted", None, f"alias {row_id}",
                           f"alias link {row_id} is not in the audit chain: it was inserted")
    return None



def _unvouched_setup(session: Session, seen: dict[str, set[str]],
                     checkpoint: AuditCheckpoint | None) -> Problem | None:
    """The first rule version, activation (the newest names the active rules), key or key revocation, source or
    source removal, webhook subscription or its removal without a chained record. A purge removes the records of
    older ones but keeps the rows: those count as purged when older than the purge's date and than every such row
    still chained."""
    def unvouched(kind: str, ref: str, number: int, when: datetime) -> bool:
        if ref in seen[kind]:
            return False
        if checkpoint is None or when >= checkpoint.before:
            return True
        chained = [int(r.split(":")[0]) for r in seen[kind]]
        return bool(chained) and number > min(chained)

    found: list[tuple[str, str]] = []
    for v in session.scalars(select(RuleVersion).order_by(RuleVersion.number)):
        if unvouched("rule_version", str(v.number), v.number, v.created_at):
            found.append(("rule_version", str(v.number)))
            break
    for a in session.scalars(select(RuleActivation).order_by(RuleActivation.id)):
        if unvouched("activation", str(a.id), a.id, a.activated_at):
            found.append(("activation", str(a.id)))
            break
    for k in session.scalars(select(ApiKey).order_by(ApiKey.id)):
        for action, when in (("created", k.created_at), ("revoked", k.revoked_at)):
            if when is not None and unvouched("key", f"{k.id}:{action}", k.id, when):
                found.append(("key", f"{k.id}:{action}"))
                break
    for s in session.scalars(select(Source).order_by(Source.id)):
        for action, when in (("created", s.created_at), ("removed", s.removed_at)):
            if when is not None and unvouched("source", f"{s.id}:{action}", s.id, when):
                found.append(("source", f"{s.id}:{action}"))
                break
    for w in session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)):
        for action, when in (("created", w.created_at), ("removed", w.removed_at)):
            if when is not None and unvouched(SUBSCRIPTION, f"{w.id}:{action}", w.id, when):
                found.append((SUBSCRIPTION, f"{w.id}:{action}"))
                break
    if not found:
        return None
    kind, ref = found[0]
    return Problem("inserted", None, f"{kind} {ref}", f"{kind} {ref} is not in the audit chain: it was inserted "
                   "or changed behind the log's back")
