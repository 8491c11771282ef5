"""Retention and erasure that keep the chain verifiable and never forget a customer's "no".

A purge removes old history but keeps what today's decisions still depend on (a withdrawn consent, an open
complaint, a recent purchase, the decisions a frequency cap counts) and what a waiting hold needs (its case's
events, the decision that made it): those rows stay and are chained again. It also removes old outbox messages
whose deliveries all settled, and holds settled before its date (neither is chained).
An erasure deletes a customer's events and scrubs their decisions and the outbox messages about them
(guard.audit.scrub), but leaves a suppression marker, under the customer's keyed digest only, for each consent
they had withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, cast, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from guard.audit.scrub import ERASED_TEXT, scrub_decision, scrubbed_message, scrubbed_sample
from guard.audit.verify import current_digests, erasure_account
from guard.core.errors import NotFound
from guard.core.timeutil import utcnow
from guard.decisions import care
from guard.holds.schedule import case_events, of_case
from guard.ledger.chain import DECISION_GROUP, Entry, append
from guard.ledger.digests import customer_digest, pseudonym, purge_digest
from guard.lifecycle.versions import sources_of
from guard.outbound.erasure import scrub_messages
from guard.outbound.retention import purge_settled
from guard.policy.ruleset import build_evaluator
from guard.situation import history
from guard.situation.aliases import KIND as ALIAS
from guard.situation.aliases import links_of, remove
from guard.situation.derive import EventRecord, derive, state_bearing
from guard.situation.queries import RECENT_PURCHASE_DAYS, load_events
from guard.storage.database import Database, deleted_rows
from guard.storage.sql import Sql
from guard.storage.tables.audit import AuditCheckpoint, AuditErasure, AuditRecord
from guard.storage.tables.decisions import Decision, DecisionCampaign, DecisionRule
from guard.storage.tables.holds import Hold
from guard.storage.tables.lifecycle import BacktestJob, RuleActivation, RuleVersion
from guard.storage.tables.situation import Event, Suppression

_CHUNK = 500


@dataclass(frozen=True)
class Horizon:
    """How far back the active rules look: at events (and the customer view), and at earlier decisions."""

    events: timedelta
    decisions: timedelta


def purge(db: Database, before: datetime) -> dict[str, Any]:
    """Remove decisions and events recorded before `before`, and their chain records, behind a checkpoint;
    the rows the customers' current situations still depend on are kept and chained again."""
    now = utcnow()
    with db.transaction() as session:
        settled = _purge_settled(session, before)
        upto = session.scalar(select(func.max(AuditRecord.seq)).where(AuditRecord.at < before))
        if upto is None:
            return {"purged": False, "decisions": 0, "events": 0, "records": 0, **settled}
        # Everything up to the last record older than `before` goes, so the chain stays one unbroken run.
        upto_hash = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == upto))
        horizon = active_horizon(session)
        head = int(session.scalar(select(func.max(AuditRecord.seq))) or upto)
        events = sorted({*_kept_events(session, upto, now - horizon.events), *_awaited_events(session, upto)})
        kept = _rechain(session, now, "event", events)
        kept_decisions = _rechain_decisions(session, now, _kept_decisions(
            session, upto, now - horizon.decisions if horizon.decisions else None))
        # An erasure that left suppression markers stays in the chain: it vouches for them.
        _rechain(session, now, "erasure", list(session.scalars(
            select(AuditRecord.ref).where(AuditRecord.kind == "erasure", AuditRecord.seq <= upto,
                                          AuditRecord.ref.in_(select(cast(Suppression.erasure_id, String)))))))
        # Identity links still in place stay vouched for (their unlinked ones need no row).
        _rechain(session, now, ALIAS, list(session.scalars(select(AuditRecord.ref).where(
            AuditRecord.kind == ALIAS, AuditRecord.seq <= upto, AuditRecord.ref.like("%:linked")))))
        counts = _purge_rows(session, upto, head)
        counts.update(kept_events=kept, kept_decisions=kept_decisions, **settled)
        checkpoint = AuditCheckpoint(upto_seq=upto, upto_hash=upto_hash, before=before, created_at=now,
                                     counts=counts)
        session.add(checkpoint)
        session.execute(delete(AuditRecord).where(AuditRecord.seq <= upto))
        session.flush()
        append(session, [Entry("purge", str(upto), now, purge_digest(upto, str(upto_hash), before, now, counts))])
        return {"purged": True, "upto_seq": upto, **counts}


def active_horizon(session: Session) -> Horizon:
    """The longest windows of the active rules' history conditions (events: at least the customer view's)."""
    events = decisions = 0
    number = session.scalar(select(RuleActivation.version).order_by(RuleActivation.id.desc()).limit(1))
    version = session.get(RuleVersion, number) if number is not None else None
    if version is not None:
        for probe in build_evaluator(sources_of(version)).compiled.probes:
            if probe.source == "decisions":
                decisions = max(decisions, probe.within or 0)
            elif probe.source != "open_case":
                events = max(events, probe.within or 0)
    return Horizon(max(timedelta(seconds=events), timedelta(days=RECENT_PURCHASE_DAYS)), timedelta(seconds=decisions))


def _purged_refs(kind: str, upto: int) -> Any:
    return select(AuditRecord.ref).where(AuditRecord.kind == kind, AuditRecord.seq <= upto)


def _kept_events(session: Session, upto: int, since: datetime) -> list[str]:
    """The purged events that a situation from `since` on still depends on, customer by customer."""
    customers = list(session.scalars(select(Event.customer_id).distinct()
                                     .where(Event.event_id.in_(_purged_refs("event", upto)))
                                     .order_by(Event.customer_id)))
    kept: list[str] = []
    for chunk in _chunks(customers):
        purged = set(session.scalars(select(Event.event_id).where(
            Event.customer_id.in_(chunk), Event.event_id.in_(_purged_refs("event", upto)))))
        by_customer: dict[str, list[EventRecord]] = {}
        for event_id, customer_id, type_, occurred_at, data in session.execute(select(
                Event.event_id, Event.customer_id, Event.type, Event.occurred_at, Event.data)
                .where(Event.customer_id.in_(chunk))):
            by_customer.setdefault(customer_id, []).append(EventRecord(event_id, type_, occurred_at, data or {}))
        for events in by_customer.values():
            staying = {e.event_id for e in events if e.event_id not in purged}
            kept.extend(sorted(state_bearing(events, since, staying) & purged))
    return kept


def _purged_groups(upto: int) -> Any:
    """The groups of decisions whose one record is purged."""
    return select(cast(AuditRecord.ref, Integer)).where(AuditRecord.kind == DECISION_GROUP, AuditRecord.seq <= upto)


def _kept_decisions(session: Session, upto: int, since: datetime | None) -> list[str]:
    """The purged decisions (chained alone or in a group) a frequency cap of the active rules still counts
    (those sent after `since`; none without a cap), and those that made a hold still waiting: the hold names
    it, and it is the sender's record of why the message waits (the hold decides again from its own copy of
    the request, so only the record is at stake)."""
    needed = Decision.decision_id.in_(select(Hold.decision_id).where(Hold.status == "waiting"))
    return list(session.scalars(select(Decision.decision_id).where(
        or_(Decision.decision_id.in_(_purged_refs("decision", upto)), Decision.audit_group.in_(_purged_groups(upto))),
        needed if since is None else or_(needed, Decision.send_at > since)).order_by(Decision.id)))


def _awaited_events(session: Session, upto: int) -> list[str]:
    """The purged events of the cases waiting holds wait for (under any of the customer's names): a hold is
    released from its case's close, read again from these events each time it is due or rescheduled, so a
    close dated before the other windows (a late resolution, a long `after`) must outlive the purge."""
    awaited: dict[str, set[tuple[str, str]]] = {}
    for customer_id, kind, case_id in session.execute(select(Hold.customer_id, Hold.waiting_kind,
                                                             Hold.waiting_case_id).where(Hold.status == "waiting")):
        awaited.setdefault(customer_id, set()).add((kind, case_id))
    needed: set[str] = set()
    for chunk in _chunks(sorted(awaited)):
        for customer_id, events in case_events(Sql.of_session(session), chunk).items():
            needed.update(e.event_id for kind, case_id in awaited[customer_id] for e in of_case(events, kind, case_id))
    return [ref for chunk in _chunks(sorted(needed))
            for ref in session.scalars(_purged_refs("event", upto).where(AuditRecord.ref.in_(chunk)))]


def _rechain_decisions(session: Session, now: datetime, refs: list[str]) -> int:
    """Kept decisions are chained again each by a record of its own (few: those a frequency cap counts or a
    waiting hold names), and leave their purged group."""
    for chunk in _chunks(refs):
        session.execute(update(Decision).where(Decision.decision_id.in_(chunk))
                        .values(audit_group=None, audit_leaf=None, audit_digest=None))
    return _rechain(session, now, "decision", refs)


def _rechain(session: Session, now: datetime, kind: str, refs: list[str]) -> int:
    """Chain kept rows again, as they are now, so they outlive their purged records."""
    for chunk in _chunks(refs):
        digests = current_digests(session, kind, list(chunk))
        append(session, [Entry(kind, ref, now, digests[ref]) for ref in chunk if ref in digests])
    return len(refs)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _purge_rows(session: Session, upto: int, head: int) -> dict[str, int]:
    """Delete the decisions and events whose chain records are purged and that were not chained again
    (after `head`)."""
    counts = {"decisions": 0, "events": 0, "records": 0}
    counts["records"] = int(session.scalar(select(func.count()).select_from(AuditRecord)
                                           .where(AuditRecord.seq <= upto)) or 0)
    gone = {kind: _purged_refs(kind, upto).where(AuditRecord.ref.not_in(
        select(AuditRecord.ref).where(AuditRecord.kind == kind, AuditRecord.seq > head)))
        for kind in ("decision", "event")}
    # Kept decisions have left their groups (`_rechain_decisions`): the rest of a purged group goes.
    going = or_(Decision.decision_id.in_(gone["decision"]), Decision.audit_group.in_(_purged_groups(upto)))
    # The projector's rows of those decisions go too (by campaign through its key; rule rows are few). A batch
    # it commits meanwhile can leave rows of a purged decision behind: reads join the decisions, never see them.
    session.execute(delete(DecisionCampaign).where(tuple_(DecisionCampaign.campaign_id, DecisionCampaign.decision_pk)
                                                   .in_(select(Decision.campaign_id, Decision.id).where(going))))
    session.execute(delete(DecisionRule).where(DecisionRule.decision_pk.in_(select(Decision.id).where(going))))
    counts["decisions"] = deleted_rows(session, delete(Decision).where(going))
    counts["events"] = deleted_rows(session, delete(Event).where(Event.event_id.in_(gone["event"])))
    return counts


def _purge_settled(session: Session, before: datetime) -> dict[str, int]:
    """Remove what is done with and chained nowhere: outbox messages whose deliveries all settled before
    `before` (with those deliveries), and holds settled before it (waiting holds always stay)."""
    messages, deliveries = purge_settled(session, before)
    # Released, ended, expired and cancelled are final (nothing changes a settled hold): `updated_at` is when
    # it settled.
    holds = deleted_rows(session, delete(Hold).where(Hold.status != "waiting", Hold.updated_at < before))
    # `care_notifications` stay, however old. Each is the "once" of a customer, route and case key: a one-way
    # digest of the case's open period (or of the rule, for a standing fact never to be told twice). Telling a
    # closed case's row from those takes the case's events, which this purge removes; and a purged event can
    # be received again (a vendor's replay, an import of old history: its id is free after the purge),
    # opening that same period again, when only the row keeps the care team from being told twice. One small
    # row per customer, route and case, not per decision; erasing the customer removes theirs.
    return {"outbox_messages": messages, "webhook_deliveries": deliveries, "holds": holds}


def erase_customer(db: Database, customer_id: str) -> dict[str, Any]:
    """Delete a customer's events, scrub their decisions, leave a suppression marker per withdrawn consent,
    remove their identity links (aliases are personal data too); counts and the chain stay verifiable."""
    digest = customer_digest(customer_id)
    alias = pseudonym(customer_id)
    now = utcnow()
    with db.transaction() as session:
        # Decisions for this customer wait (PostgreSQL): none is written unscrubbed behind the erasure's back.
        history.lock_customers(Sql.of_session(session), {customer_id})
        events = load_events(session, customer_id)
        event_ids = [e.event_id for e in events if not e.event_id.startswith(history.MARKER_PREFIX)]
        decisions = list(session.scalars(select(Decision).where(Decision.customer_id == customer_id)))
        links = links_of(session, customer_id)
        if not event_ids and not decisions and not links:
            raise NotFound(f"Guard has no data about customer {customer_id!r}.", {"customer_id": customer_id})
        withdrawn = _withdrawn(events, now, {(e.data["channel"], e.data["purpose"], e.occurred_at)
                                              for e in events if e.event_id.startswith(history.MARKER_PREFIX)})
        session.execute(delete(Event).where(Event.customer_id == customer_id))
        # A held message is the customer's data too, and must never be released after the erasure.
        session.execute(delete(Hold).where(Hold.customer_id == customer_id))
        # The care team was told about them: forget the "once" (found through their decisions, still named),
        # and keep each outbox message, scrubbed: a delivery still pending sends it so.
        raw = Sql.of_session(session)
        notified = care.forget(raw, customer_id)
        messages = scrub_messages(raw, customer_id, lambda kind, data: scrubbed_message(kind, data, alias),
                                  ERASED_TEXT)
        for decision in decisions:
            scrub_decision(decision, alias)
        _scrub_backtests(session, customer_id, alias)
        session.flush()
        scrubbed = current_digests(session, "decision", [d.decision_id for d in decisions])
        erasure = AuditErasure(customer_digest=digest, event_ids=event_ids, decisions=len(decisions),
                               created_at=now, scrubbed=scrubbed or None)
        session.add(erasure)
        session.flush()
        markers = [Suppression(customer_digest=digest, channel=channel, purpose=purpose, since=since,
                               erasure_id=erasure.id) for channel, purpose, since in withdrawn]
        session.add_all(markers)
        session.flush()
        append(session, [Entry("erasure", str(erasure.id), now, erasure_account(erasure, markers))])
        # The other names' own events and decisions stay: each is erased by its own name (listed here).
        unlinked = sorted({name for link in links for name in (link.alias, link.customer_id)} - {customer_id})
        remove(session, links, now)
        return {"customer": alias, "events_deleted": len(event_ids), "decisions_pseudonymised": len(decisions),
                "suppressions": len(markers), "aliases_unlinked": unlinked, "care_notifications_deleted": notified,
                "outbox_messages_scrubbed": messages}


def _withdrawn(events: list[EventRecord], now: datetime, marked: set[tuple[str, str, datetime]]
               ) -> list[tuple[str, str, datetime]]:
    """The consents withdrawn at the end of the customer's history that no marker holds yet."""
    at = max([now, *(e.occurred_at for e in events)])
    situation = derive(events, at)
    return sorted((channel, purpose, since) for (channel, purpose), (status, since) in situation.consent.items()
                  if status == "withdrawn" and (channel, purpose, since) not in marked)


def _scrub_backtests(session: Session, customer_id: str, alias: str) -> None:
    """Backtest reports keep sample decisions: the customer's lose their id and explanations."""
    for job in session.scalars(select(BacktestJob)):
        report = job.report or {}
        samples = report.get("samples") or []
        if not any(s.get("customer_id") == customer_id for s in samples):
            continue
        job.report = {**report, "samples": [scrubbed_sample(s, alias) if s.get("customer_id") == customer_id
                                            else s for s in samples]}
