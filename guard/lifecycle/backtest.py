"""Backtest: replay recorded decision requests against a candidate rule set and report what would change.

Nothing is written: no decision, no frequency-cap count. Situations are loaded set-wise per chunk of
decisions, so a replay costs a few queries per thousand decisions, not one per decision.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError, missing
from sqlalchemy import func, select

from guard.core.errors import ValidationFailed
from guard.core.message import PriorDecision, to_message
from guard.core.timeutil import iso
from guard.decisions.holding import held
from guard.decisions.schemas import DecisionRequestSchema
from guard.decisions.service import validate_request
from guard.policy.evaluate import Evaluator, Verdict
from guard.situation.derive import EventRecord, derive
from guard.situation.history import rule_ids_of
from guard.storage.database import Database
from guard.storage.sql import Sql, chunks, member_of
from guard.storage.tables.decisions import Decision

CHUNK = 1000
_SCHEMA = DecisionRequestSchema()
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

    def merge(self, later: _Tally, samples: int) -> None:
        """Add the counts of the decisions after these (samples stay the first ones, in id order)."""
        self.total += later.total
        self.changed += later.changed
        self.defer_changed += later.defer_changed
        self.skipped += later.skipped
        self.matrix.update(later.matrix)
        self.before_rules.update(later.before_rules)
        self.after_rules.update(later.after_rules)
        self.changed_by_rule.update(later.changed_by_rule)
        for campaign, counts in later.campaigns.items():
            self.campaigns[campaign].update(counts)
        self.samples.extend(later.samples[:max(0, samples - len(self.samples))])


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
                 progress: Progress | None = None, samples: int = SAMPLES, processes: int = 1) -> dict[str, Any]:
    """Replay every recorded decision whose send_at is in [since, until) and compare outcomes.

    `processes` > 1 replays chunks in that many forked processes (each reading its own chunks; the report is
    the same): only from a single-threaded program, such as the CLI, since a fork copies no other thread.
    """
    started = time.perf_counter()
    total = count_decisions(db, since, until)
    replay = _Replay(candidate, since, until, samples)
    tally = _Tally()
    for part in _replayed(db, replay, processes if total > CHUNK else 1):
        tally.merge(part, samples)
        if progress:
            progress(tally.total + tally.skipped, total)
    elapsed = time.perf_counter() - started
    return _report(tally, candidate, since, until, elapsed)


class _Replay:
    """What replaying a chunk needs: the candidate, the period, and what the candidate asks of the history."""

    def __init__(self, candidate: Evaluator, since: datetime | None, until: datetime | None, samples: int) -> None:
        self.candidate, self.since, self.until, self.samples = candidate, since, until, samples
        decision_probes = [p for p in candidate.compiled.probes if p.source == "decisions"]
        self.window = timedelta(seconds=max((p.within or 0 for p in decision_probes), default=0))
        # An earlier decision's rules matter only to a rule that filters on them.
        self.with_rules = any(w.field == "rule_id" for p in decision_probes for w in p.where)
        self.requests = _Requests()

    def chunks(self, db: Database, after: int = 0, upto: int | None = None) -> Iterator[_Tally]:
        """A tally per chunk of the decisions with ids in (after, upto], in one read transaction."""
        with db.sessions() as session:
            sql = Sql.of_session(session)
            for chunk in _chunks(sql, self.since, self.until, after, upto):
                tally = _Tally()
                _replay_chunk(sql, self, chunk, tally)
                yield tally


def _replayed(db: Database, replay: _Replay, processes: int) -> Iterator[_Tally]:
    """Tallies of consecutive chunks, in id order."""
    if processes <= 1:
        yield from replay.chunks(db)
        return
    bounds = _chunk_bounds(db, replay.since, replay.until)
    context = multiprocessing.get_context("fork")  # the children inherit the compiled candidate
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker,
                             initargs=(db.url, replay)) as pool:
        yield from pool.map(_replay_range, bounds)


_WORKER: tuple[Database, _Replay] | None = None


def _start_worker(url: str, replay: _Replay) -> None:
    global _WORKER
    _WORKER = (Database(url), replay)  # a connection of its own: the parent's are not used across a fork


def _replay_range(bounds: tuple[int, int]) -> _Tally:
    assert _WORKER is not None
    db, replay = _WORKER
    tally = _Tally()
    for part in replay.chunks(db, *bounds):
        tally.merge(part, replay.samples)
    return tally


def _chunk_bounds(db: Database, since: datetime | None, until: datetime | None) -> list[tuple[int, int]]:
    """(after, upto] id ranges of CHUNK decisions of the period each, found by stepping through the id index."""
    bounds = []
    with db.sessions() as session:
        sql = Sql.of_session(session)
        period, times = _period_sql(sql, since, until)
        after = 0
        while True:
            row = sql.first(f"SELECT id FROM decisions WHERE id > ?{period} ORDER BY id LIMIT 1 OFFSET ?",
                            [after, *times, CHUNK - 1])
            if row is None:
                last = sql.first(f"SELECT MAX(id) FROM decisions WHERE id > ?{period}", [after, *times])
                if last is not None and last[0] is not None:
                    bounds.append((after, int(last[0])))
                return bounds
            bounds.append((after, int(row[0])))
            after = int(row[0])


def _period_sql(sql: Sql, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    bounds = (" AND send_at >= ?" if since is not None else "") + (" AND send_at < ?" if until is not None else "")
    return bounds, [sql.time(t) for t in (since, until) if t is not None]


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A recorded decision as a replay reads it: its columns and its reasons, no ORM object."""

    id: int
    decision_id: str
    customer_id: str
    campaign_id: str | None
    send_at: datetime
    outcome: str
    route: str | None
    defer_until: datetime | None
    rules_version: str
    request: Any
    reasons: list[dict[str, str]]


_RECORDED = ("SELECT id, decision_id, customer_id, campaign_id, send_at, outcome, route, defer_until, rules_version, "
             "request, reasons FROM decisions WHERE id > ?")


def _chunks(sql: Sql, since: datetime | None, until: datetime | None, after: int = 0, upto: int | None = None
            ) -> Iterator[list[_Recorded]]:
    period, times = _period_sql(sql, since, until)
    if upto is not None:
        period += " AND id <= ?"
        times.append(upto)
    last_id = after
    while True:
        rows = sql.rows(f"{_RECORDED}{period} ORDER BY id LIMIT ?", [last_id, *times, CHUNK])
        if not rows:
            return
        yield [_Recorded(pk, decision_id, customer_id, campaign_id, sql.read_time(send_at),  # type: ignore[arg-type]
                         outcome, route, sql.read_time(defer_until), rules_version, sql.read_json(request),
                         [] if reasons == "[]" else sql.read_json(reasons))
               for pk, decision_id, customer_id, campaign_id, send_at, outcome, route, defer_until, rules_version,
               request, reasons in rows]
        last_id = rows[-1][0]


def _replay_chunk(sql: Sql, replay: _Replay, chunk: list[_Recorded], tally: _Tally) -> None:
    window = replay.window
    customers = sorted({d.customer_id for d in chunk})
    latest = max(d.send_at for d in chunk)
    events = _events_by_customer(sql, customers, latest)
    history = _history_by_customer(sql, customers, min(d.send_at for d in chunk) - window, latest,
                                   replay.with_rules) if window else {}
    for decision in chunk:
        request = decision.request if isinstance(decision.request, dict) else {}
        try:
            # A held message decided again names its hold (`held_from`), which no sender may write.
            data = replay.requests.validate({k: v for k, v in request.items() if k != "held_from"})
        except ValidationFailed:
            tally.skipped += 1  # recorded under an older schema that no longer validates
            continue
        message = to_message(data, decision.customer_id, decision.send_at)
        situation = derive(events.get(decision.customer_id, []), message.send_at)
        prior = [p for p in history.get(decision.customer_id, [])
                 if p[0] < decision.id and message.send_at - window < p[1].send_at <= message.send_at]
        verdict = replay.candidate.evaluate(message, situation, [p for _, p in prior])
        if (data.get("hold") is not None or "held_from" in request) and verdict.release is not None:
            verdict = held(verdict)  # the sender accepted holds: a block with a release holds, as it did live
        _count(tally, decision, verdict, replay.samples)


class _Requests:
    """Validates recorded requests; a campaign's requests differ only in customer, key and send time, so the
    rest is validated once per shape (the schema validates each field on its own) and those three per request."""

    _OWN = ("customer_id", "idempotency_key", "send_at")
    _SHAPES = 4096

    def __init__(self) -> None:
        self._shapes: dict[str, dict[str, Any]] = {}
        self._fields = [(name, _SCHEMA.fields[name]) for name in self._OWN]

    def validate(self, raw: Any) -> dict[str, Any]:
        """What validate_request returns for `raw`, or the ValidationFailed it raises."""
        if not isinstance(raw, dict) or "customer_id" not in raw:
            return validate_request(raw)
        try:
            shape = json.dumps({k: v for k, v in raw.items() if k not in self._OWN}, sort_keys=True)
        except (TypeError, ValueError):
            return validate_request(raw)
        known = self._shapes.get(shape)
        if known is None:
            data = validate_request(raw)
            if len(self._shapes) < self._SHAPES:
                self._shapes[shape] = {k: v for k, v in data.items() if k not in self._OWN}
            return data
        data = dict(known)
        try:
            for name, field_ in self._fields:
                data[name] = field_.deserialize(raw.get(name, missing), name, raw)
        except ValidationError:
            return validate_request(raw)  # raises, with every problem listed
        return data


def _events_by_customer(sql: Sql, customers: list[str], until: datetime) -> dict[str, list[EventRecord]]:
    out: dict[str, list[EventRecord]] = defaultdict(list)
    for part in chunks(customers):
        member, params = member_of(sql, "customer_id", part)
        rows = sql.rows(f"SELECT customer_id, event_id, type, occurred_at, data FROM events "
                        f"WHERE {member} AND occurred_at <= ?", [*params, sql.time(until)])
        for customer_id, event_id, type_, occurred_at, data in rows:
            out[customer_id].append(EventRecord(event_id, type_, sql.read_time(occurred_at),  # type: ignore[arg-type]
                                                sql.read_json(data) or {}))
    return out


def _history_by_customer(sql: Sql, customers: list[str], start: datetime, end: datetime, with_rules: bool
                         ) -> dict[str, list[tuple[int, PriorDecision]]]:
    out: dict[str, list[tuple[int, PriorDecision]]] = defaultdict(list)
    for part in chunks(customers):
        member, params = member_of(sql, "customer_id", part)
        rows = sql.rows(f"SELECT id, customer_id, send_at, purpose, channel, outcome, campaign_id, reasons "
                        f"FROM decisions WHERE {member} AND send_at > ? AND send_at <= ?",
                        [*params, sql.time(start), sql.time(end)])
        for pk, customer_id, send_at, purpose, channel, outcome, campaign_id, reasons in rows:
            rule_ids = rule_ids_of(sql, reasons) if with_rules else ()
            prior = PriorDecision(sql.read_time(send_at), purpose, channel, outcome,  # type: ignore[arg-type]
                                  campaign_id, rule_ids)
            out[customer_id].append((pk, prior))
    return out


def _count(tally: _Tally, decision: _Recorded, verdict: Verdict, samples: int) -> None:
    tally.total += 1
    before_rules = [r["rule_id"] for r in decision.reasons]
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


def _sample(decision: _Recorded, verdict: Verdict) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "customer_id": decision.customer_id,
        "campaign_id": decision.campaign_id,
        "send_at": iso(decision.send_at),
        "before": {
            "outcome": decision.outcome, "route": decision.route, "defer_until": iso(decision.defer_until),
            "rules_version": decision.rules_version,
            "reasons": [{"rule_id": r["rule_id"], "outcome": r["outcome"], "explanation": r["explanation"]}
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
