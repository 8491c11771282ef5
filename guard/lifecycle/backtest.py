"""Backtest: replay recorded decision requests against a candidate rule set and report what would change.

Nothing is written: no decision, no frequency-cap count. Situations are loaded set-wise per chunk of
decisions, so a replay costs a few queries per thousand decisions, not one per decision.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guard.core.errors import ValidationFailed
from guard.core.message import PriorDecision, to_message
from guard.core.timeutil import iso
from guard.decisions.holding import held
from guard.decisions.service import validate_request
from guard.policy.evaluate import Evaluator, Verdict
from guard.situation.derive import EventRecord, derive
from guard.storage.database import Database
from guard.storage.tables.decisions import Decision
from guard.storage.tables.situation import Event

CHUNK = 1000
SAMPLES = 20
Progress = Callable[[int, int], None]


@dataclass
class _Tally:
    """Running counts of a backtest."""

    total: int = 0
    changed: int = 0
    defer_changed: int = 0
    skipped: int = 0
    matrix: Counter[tuple[str, str]] = field(default_factory=Counter)
    before_rules: Counter[str] = field(default_factory=Counter)
    after_rules: Counter[str] = field(default_factory=Counter)
    changed_by_rule: Counter[str] = field(default_factory=Counter)
    campaigns: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    samples: list[dict[str, Any]] = field(default_factory=list)


def count_decisions(db: Database, since: datetime | None, until: datetime | None) -> int:
    """How many recorded decisions a backtest of the period would replay."""
    with db.sessions() as session:
        query = select(func.count()).select_from(Decision)
        return int(session.scalar(_period(query, since, until)) or 0)


def _period(query: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(Decision.send_at >= since)
    if until is not None:
        query = query.where(Decision.send_at < until)
    return query


def run_backtest(db: Database, candidate: Evaluator, since: datetime | None = None, until: datetime | None = None,
                 progress: Progress | None = None, samples: int = SAMPLES) -> dict[str, Any]:
    """Replay every recorded decision whose send_at is in [since, until) and compare outcomes."""
    started = time.perf_counter()
    total = count_decisions(db, since, until)
    tally = _Tally()
    windows = [p.within or 0 for p in candidate.compiled.probes if p.source == "decisions"]
    window = timedelta(seconds=max(windows, default=0))
    with db.sessions() as session:
        for chunk in _chunks(session, since, until):
            _replay_chunk(session, candidate, chunk, window, tally, samples)
            if progress:
                progress(tally.total + tally.skipped, total)
    elapsed = time.perf_counter() - started
    return _report(tally, candidate, since, until, elapsed)


def _chunks(session: Session, since: datetime | None, until: datetime | None) -> Iterator[list[Decision]]:
    last_id = 0
    while True:
        query = _period(select(Decision).where(Decision.id > last_id), since, until)
        rows = list(session.scalars(query.order_by(Decision.id).limit(CHUNK)))
        if not rows:
            return
        yield rows
        last_id = rows[-1].id
        session.expunge_all()


def _replay_chunk(session: Session, candidate: Evaluator, chunk: list[Decision], window: timedelta,
                  tally: _Tally, samples: int) -> None:
    customers = {d.customer_id for d in chunk}
    latest = max(d.send_at for d in chunk)
    events = _events_by_customer(session, customers, latest)
    history = _history_by_customer(session, customers, min(d.send_at for d in chunk) - window, latest) \
        if window else {}
    for decision in chunk:
        request = decision.request if isinstance(decision.request, dict) else {}
        try:
            # A held message decided again names its hold (`held_from`), which no sender may write.
            data = validate_request({k: v for k, v in request.items() if k != "held_from"})
        except ValidationFailed:
            tally.skipped += 1  # recorded under an older schema that no longer validates
            continue
        message = to_message(data, decision.customer_id, decision.send_at)
        situation = derive(events.get(decision.customer_id, []), message.send_at)
        prior = [p for p in history.get(decision.customer_id, [])
                 if p[0] < decision.id and message.send_at - window < p[1].send_at <= message.send_at]
        verdict = candidate.evaluate(message, situation, [p for _, p in prior])
        if (data.get("hold") is not None or "held_from" in request) and verdict.release is not None:
            verdict = held(verdict)  # the sender accepted holds: a block with a release holds, as it did live
        _count(tally, decision, verdict, samples)


def _events_by_customer(session: Session, customers: set[str], until: datetime) -> dict[str, list[EventRecord]]:
    out: dict[str, list[EventRecord]] = defaultdict(list)
    rows = session.execute(
        select(Event.customer_id, Event.event_id, Event.type, Event.occurred_at, Event.data)
        .where(Event.customer_id.in_(customers), Event.occurred_at <= until)
    )
    for customer_id, event_id, type_, occurred_at, data in rows:
        out[customer_id].append(EventRecord(event_id, type_, occurred_at, data or {}))
    return out


def _history_by_customer(session: Session, customers: set[str], start: datetime, end: datetime
                         ) -> dict[str, list[tuple[int, PriorDecision]]]:
    out: dict[str, list[tuple[int, PriorDecision]]] = defaultdict(list)
    rows = session.scalars(
        select(Decision).where(Decision.customer_id.in_(customers), Decision.send_at > start,
                               Decision.send_at <= end)
    )
    for d in rows:
        prior = PriorDecision(d.send_at, d.purpose, d.channel, d.outcome, d.campaign_id,
                              tuple(r.rule_id for r in d.reasons))
        out[d.customer_id].append((d.id, prior))
    return out


def _count(tally: _Tally, decision: Decision, verdict: Verdict, samples: int) -> None:
    tally.total += 1
    before_rules = [r.rule_id for r in decision.reasons]
    after_rules = [r.rule_id for r in verdict.reasons]
    tally.before_rules.update(before_rules)
    tally.after_rules.update(after_rules)
    tally.matrix[(decision.outcome, verdict.outcome)] += 1
    campaign = tally.campaigns[decision.campaign_id or "(none)"]
    campaign["total"] += 1
    changed = (decision.outcome, decision.route) != (verdict.outcome, verdict.route)
    if not changed and decision.defer_until != verdict.defer_until:
        tally.defer_changed += 1
    if not changed:
        return
    tally.changed += 1
    campaign["changed"] += 1
    tally.changed_by_rule[after_rules[0] if after_rules else "(no rule)"] += 1
    if len(tally.samples) < samples:
        tally.samples.append(_sample(decision, verdict))


def _sample(decision: Decision, verdict: Verdict) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "customer_id": decision.customer_id,
        "campaign_id": decision.campaign_id,
        "send_at": iso(decision.send_at),
        "before": {
            "outcome": decision.outcome, "route": decision.route, "defer_until": iso(decision.defer_until),
            "rules_version": decision.rules_version,
            "reasons": [{"rule_id": r.rule_id, "outcome": r.outcome, "explanation": r.explanation}
                        for r in decision.reasons],
        },
        "after": {
            "outcome": verdict.outcome, "route": verdict.route, "defer_until": iso(verdict.defer_until),
            "reasons": [r.to_dict() for r in verdict.reasons],
        },
    }


def _report(tally: _Tally, candidate: Evaluator, since: datetime | None, until: datetime | None,
            elapsed: float) -> dict[str, Any]:
    rules = sorted(tally.before_rules.keys() | tally.after_rules.keys())
    return {
        "candidate_version": candidate.version,
        "period": {"since": iso(since), "until": iso(until)},
        "total": tally.total,
        "changed": tally.changed,
        "unchanged": tally.total - tally.changed,
        "defer_changed": tally.defer_changed,
        "skipped": tally.skipped,
        "matrix": [{"from": old, "to": new, "count": n} for (old, new), n in sorted(tally.matrix.items())],
        "by_rule": [{"rule_id": r, "matched_before": tally.before_rules[r], "matched_after": tally.after_rules[r],
                     "changed_decisions": tally.changed_by_rule[r]} for r in rules],
        "by_campaign": [{"campaign_id": c, "total": n["total"], "changed": n["changed"]}
                        for c, n in sorted(tally.campaigns.items())],
        "samples": tally.samples,
        "seconds": round(elapsed, 3),
        "decisions_per_second": round(tally.total / elapsed, 1) if elapsed > 0 else None,
    }
