"""Evaluates a message against compiled rules and combines the matching rules into one verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from guard.core.lru import Lru, text_weight
from guard.core.message import Message, PriorDecision
from guard.core.timeutil import iso
from guard.core.vocabulary import SEVERITY
from guard.policy.ast import Case, Rule, SetClause, walk_clauses
from guard.policy.compiler import GUARD_FACT, CompiledCase, CompiledRuleSet
from guard.policy.durations import format_duration
from guard.policy.engine import CompiledEngine
from guard.policy.facts import Facts, binding_values, build_facts, compare, render_time
from guard.situation.derive import Situation, derive

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Verdicts remembered per evaluator for customers with no situation: distinct messages seen recently.
BLANK_VERDICTS = 4096


@dataclass(frozen=True)
class Release:
    """What a winning block waits for: the open case it matched, and how long after that case closes."""

    kind: str
    case_id: str
    after: int  # seconds

    @property
    def then(self) -> str:
        """In words, when the release comes: `3d after it closes`, or `when it closes`."""
        return f"{format_duration(self.after)} after it closes" if self.after else "when it closes"

    def waiting_for(self) -> dict[str, str]:
        """The public form in a hold's answer: `{"kind", "case_id", "then"}`."""
        return {"kind": self.kind, "case_id": self.case_id, "then": self.then}


@dataclass(frozen=True)
class MatchedCase:
    """The open case a rule matched: its kind, id, and when this open period began (a reopening restarts it)."""

    kind: str
    id: str
    opened_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The `case` of a `care.requested` message."""
        return {"kind": self.kind, "id": self.id, "opened_at": iso(self.opened_at)}


@dataclass(frozen=True)
class Reason:
    """One matched rule: its outcome and the explanation filled from the facts."""

    rule_id: str
    outcome: str
    explanation: str
    priority: int
    exempt: bool
    route: str | None = None
    defer_until: datetime | None = None
    release: Release | None = None  # a block that says how it clears (`release:`), with the case it matched
    notify: str | None = None  # the event the case asks for (`notify:`), e.g. care.requested
    # The open cases the rule matched, oldest first; looked up only for a case that notifies.
    cases: tuple[MatchedCase, ...] = ()

    @property
    def case(self) -> MatchedCase | None:
        """The oldest matched open case: the one the rule's `as` binding (so its explanation) speaks of."""
        return self.cases[0] if self.cases else None

    def to_dict(self) -> dict[str, Any]:
        """The public form in responses and the audit log."""
        return {"rule_id": self.rule_id, "outcome": self.outcome, "explanation": self.explanation}


@dataclass(frozen=True)
class Verdict:
    """The combined decision for one message."""

    outcome: str
    route: str | None
    defer_until: datetime | None
    reasons: tuple[Reason, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    # The winning reroute when its case says `notify:` (its rule, route, explanation and matched case), else None.
    notify: Reason | None = None

    @property
    def release(self) -> Release | None:
        """The release of the winning block, when the outcome is a block whose case says how it clears."""
        if self.outcome != "block" or not self.reasons:
            return None
        return self.reasons[0].release


class Evaluator:
    """A compiled rule set bound to its engine: the unit that is swapped on rule activation."""

    def __init__(self, compiled: CompiledRuleSet, version: int | str | None = None) -> None:
        self.compiled = compiled
        self.engine = CompiledEngine(compiled.definition, compiled.version)
        # A stored version is named by its number; rule files not stored yet by their content hash.
        self.version: int | str = version if version is not None else compiled.version
        self._blank: Lru[str, Verdict] = Lru(BLANK_VERDICTS, weigh=text_weight)
        self._bound = {name: _bound_probes(compiled, item) for name, item in compiled.cases.items()}

    def evaluate_blank(self, message: Message, key: str) -> Verdict:
        """The verdict for a customer with no events and no earlier decisions, remembered by message `key`.

        Most customers of a campaign have no situation at all; their verdicts differ only by the message, so
        `key` must name everything of the message but the customer.
        """
        verdict = self._blank.get(key)
        if verdict is None:
            verdict = self.evaluate(message, derive([], message.send_at), [])
            self._blank.put(key, verdict)
        return verdict

    def evaluate(self, message: Message, situation: Situation, history: list[PriorDecision]) -> Verdict:
        """Facts → engine → the first matching case per rule → combined verdict."""
        facts = build_facts(self.compiled, message, situation, history)
        fired = self.engine.matches(facts.document)
        chosen = _first_case_per_rule([self.compiled.cases[name] for name in fired])
        reasons = [_reason(self.compiled, self._bound[case.name], case, message, facts) for case in chosen]
        return combine(reasons, audit_facts(facts, self.compiled, message))

    def close(self) -> None:
        """Release the engine's ruleset."""
        self.engine.close()


def _first_case_per_rule(cases: list[CompiledCase]) -> list[CompiledCase]:
    best: dict[str, CompiledCase] = {}
    for case in cases:
        current = best.get(case.rule.id)
        if current is None or case.order < current.order:
            best[case.rule.id] = case
    return list(best.values())


def _bound_probes(compiled: CompiledRuleSet, chosen: CompiledCase) -> tuple[tuple[SetClause, int], ...]:
    """The bound history conditions of a rule case, each with the index of its probe (fixed per rule set)."""
    probe_index = {p.probe_key(): i for i, p in enumerate(compiled.probes)}
    return tuple((clause, probe_index[clause.probe_key()])
                 for clause in walk_clauses((*chosen.rule.when, *chosen.case.when))
                 if isinstance(clause, SetClause) and clause.binding)


def _reason(compiled: CompiledRuleSet, bound: tuple[tuple[SetClause, int], ...], chosen: CompiledCase,
            message: Message, facts: Facts) -> Reason:
    rule, case = chosen.rule, chosen.case
    context = _context(bound, rule, message, facts)
    defer_until = _defer_until(case, context, facts) if case.outcome == "defer" else None
    return Reason(
        rule_id=rule.id,
        outcome=case.outcome,
        explanation=render(case.explanation, context),
        priority=rule.priority,
        exempt=rule.exempt,
        route=case.route,
        defer_until=defer_until,
        release=_release(compiled, rule, case, facts) if case.outcome == "block" else None,
        notify=case.notify,
        cases=_matched_cases(compiled, rule, case, facts) if case.notify else (),
    )


def _release(compiled: CompiledRuleSet, rule: Rule, case: Case, facts: Facts) -> Release | None:
    """The case this block waits for: the oldest open case its (single) open_case condition found."""
    if case.release is None:
        return None
    awaited = rule.awaited(case)
    if len(awaited) != 1:  # refused when the rules were read; stay a plain block for rules stored before
        return None
    probe_index = {p.probe_key(): i for i, p in enumerate(compiled.probes)}
    items = facts.probes[probe_index[awaited[0].probe_key()]].items
    if not items:
        return None
    return Release(awaited[0].kind or "", str(items[0][1]["id"]), case.release.after)


def _matched_cases(compiled: CompiledRuleSet, rule: Rule, case: Case, facts: Facts) -> tuple[MatchedCase, ...]:
    """The open cases the rule's conditions found, oldest first: those of the first `open_case` condition that
    holds with at least one case; none when the rule matched no open case."""
    probe_index = {p.probe_key(): i for i, p in enumerate(compiled.probes)}
    for clause in walk_clauses((*rule.when, *case.when)):
        if isinstance(clause, SetClause) and clause.source == "open_case" and clause.kind:
            items = facts.probes[probe_index[clause.probe_key()]].items
            if items and compare(clause.count.op, len(items), clause.count.value):
                return tuple(MatchedCase(clause.kind, str(data["id"]), opened_at) for opened_at, data in items)
    return ()


def _context(bound: tuple[tuple[SetClause, int], ...], rule: Rule, message: Message, facts: Facts
             ) -> dict[str, Any]:
    doc = facts.document
    context: dict[str, Any] = {
        "rule.id": rule.id,
        "message.channel": message.channel,
        "message.purpose": message.purpose,
        "message.campaign_id": message.campaign_id,
        "message.send_at": message.send_at,
        "message.product_ids": ", ".join(message.product_ids),
        "profile.tenure_years": doc.get("tenure_years"),
        "profile.tenure_days": doc.get("tenure_days"),
        "profile.timezone": doc.get("timezone"),
        "profile.customer_since": facts.customer_since.isoformat() if facts.customer_since else None,
        "local_time": f"{facts.local.hour:02d}:{facts.local.minute:02d}",
        "consent": doc.get("consent"),
    }
    for name, value in message.attributes.items():
        context[f"attributes.{name}"] = value
        context[f"message.attributes.{name}"] = value
    for clause, index in bound:
        for key, value in binding_values(clause, facts.probes[index], message).items():
            context[f"{clause.binding}.{key}"] = value
    return context


def render(template: str, context: dict[str, Any]) -> str:
    """Fill `{name.attribute}` placeholders; nothing in a template is ever evaluated as code."""

    def fill(match: re.Match[str]) -> str:
        value = context.get(match.group(1).strip())
        if value is None:
            return "?"
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return str(render_time(value))

    return _PLACEHOLDER.sub(fill, template)


def _defer_until(case: Case, context: dict[str, Any], facts: Facts) -> datetime | None:
    spec = case.defer_until
    if spec is None:
        return None
    if spec.next_local_time is not None:
        return next_local_time(facts.local, spec.next_local_time)
    base = context.get(spec.at or "")
    if not isinstance(base, datetime):
        return None
    return base + timedelta(seconds=spec.plus)


def next_local_time(local: datetime, minutes: int) -> datetime:
    """The next instant, strictly after `local`, when the customer's clock shows the time of day."""
    target = time(minutes // 60, minutes % 60)
    now = local.astimezone(UTC)
    # Compared in UTC: aware datetimes of one zone compare by wall time, which is wrong in the hour that
    # repeats when clocks go back (02:45 "first time" is before 02:30 "second time").
    for day in (local.date(), local.date() + timedelta(days=1)):
        for fold in (0, 1):
            candidate = datetime.combine(day, target, tzinfo=local.tzinfo).replace(fold=fold)
            if candidate.astimezone(UTC) > now:
                return candidate
    raise AssertionError("a time of day recurs within two days")  # pragma: no cover


def _rank(reason: Reason) -> tuple[Any, ...]:
    latest_first = -(reason.defer_until.timestamp()) if reason.defer_until else 0.0
    return (SEVERITY[reason.outcome], latest_first, -reason.priority, reason.rule_id)


def combine(reasons: list[Reason], facts: dict[str, Any] | None = None) -> Verdict:
    """An exempt match allows; otherwise the most severe outcome wins, then priority, then latest defer."""
    facts = facts or {}
    if not reasons:
        return Verdict("allow", None, None, (), facts)
    exempt = sorted((r for r in reasons if r.exempt), key=lambda r: (-r.priority, r.rule_id))
    others = sorted((r for r in reasons if not r.exempt), key=_rank)
    if exempt:
        ordered = (*exempt, *others)
        return Verdict("allow", None, None, ordered, facts)
    winner = others[0]
    notify = winner if winner.notify and winner.outcome == "reroute" else None
    return Verdict(winner.outcome, winner.route, winner.defer_until, tuple(others), facts, notify)


def audit_facts(facts: Facts, compiled: CompiledRuleSet, message: Message) -> dict[str, Any]:
    """The facts the rules saw, as recorded in the audit log: engine fields and each probe's matches."""
    doc = dict(facts.document)
    doc.pop(GUARD_FACT, None)
    probes = []
    for probe, result in zip(compiled.probes, facts.probes, strict=True):
        probes.append({
            "source": probe.source,
            "kind": probe.kind,
            "within_seconds": probe.within,
            "count": len(result.items),
            "times": [render_time(t) for t, _ in result.items[-20:]] if result.items else [],
        })
    return {"fields": doc, "history": probes, "local_time": facts.local.isoformat()}
