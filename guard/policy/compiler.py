"""Compiles the rule model into a durable-rules ruleset (JSON) plus the history probes that feed it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from guard.core import vocabulary as F
from guard.policy.ast import AnyClause, Case, Clause, FieldClause, Rule, RuleSet, SetClause, Test, walk_clauses

# Every compiled rule requires this field, which only request facts carry: the engine keeps a hidden
# state document per session and a rule it could satisfy would fire on it forever.
GUARD_FACT = "guard_request"
_COMPARE = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


@dataclass(frozen=True)
class CompiledCase:
    """A rule case as the engine knows it: its engine name and where it came from."""

    name: str
    rule: Rule
    case: Case
    order: int  # position of the case in its rule; the first matching case wins


@dataclass(frozen=True)
class CompiledRuleSet:
    """Everything evaluation needs: the engine JSON, the history probes and the case table."""

    ruleset: RuleSet
    definition: dict[str, Any]
    probes: tuple[SetClause, ...]
    cases: dict[str, CompiledCase]
    uses_history: bool
    uses_decisions: bool
    # The message attributes some rule tests: only these reach the engine (see guard.policy.engine.MAX_PROPERTIES).
    attributes: frozenset[str] = frozenset()

    @property
    def version(self) -> str:
        """The content version of the compiled rules."""
        return self.ruleset.version

    @property
    def event_types(self) -> frozenset[str]:
        """The event types the rules ask about."""
        return frozenset(p.kind for p in self.probes if p.source in ("event", "last_event") and p.kind)


def compile_ruleset(ruleset: RuleSet) -> CompiledRuleSet:
    """Translate every rule case into one durable-rules rule over the flat fact document."""
    probes: dict[tuple[Any, ...], tuple[int, SetClause]] = {}
    definition: dict[str, Any] = {}
    cases: dict[str, CompiledCase] = {}
    for rule in ruleset.rules:
        for order, case in enumerate(rule.cases):
            name = f"{rule.id}#{order}"
            definition[name] = {"all": [{"m": case_condition(rule, case, probes)}]}
            cases[name] = CompiledCase(name, rule, case, order)
    probe_list = tuple(clause for _, clause in sorted(probes.values(), key=lambda item: item[0]))
    return CompiledRuleSet(
        ruleset=ruleset,
        definition=definition,
        probes=probe_list,
        cases=cases,
        uses_history=bool(probe_list),
        uses_decisions=any(p.source == "decisions" for p in probe_list),
        attributes=frozenset(name for rule in ruleset.rules for name in tested_attributes(rule)),
    )


def tested_attributes(rule: Rule) -> list[str]:
    """The names of the message attributes a rule (any of its cases) tests, in the order written."""
    clauses = walk_clauses((*rule.when, *(c for case in rule.cases for c in case.when)))
    names = (F.attribute_name(c.field) for c in clauses if isinstance(c, FieldClause))
    return list(dict.fromkeys(n for n in names if n is not None))


def case_condition(
    rule: Rule, case: Case, probes: dict[tuple[Any, ...], tuple[int, SetClause]] | None = None
) -> dict[str, Any]:
    """The engine condition of one rule case: the guard fact and every clause of the rule and the case."""
    probes = {} if probes is None else probes
    conditions = [_clause(c, probes) for c in (*rule.when, *case.when)]
    return {"$and": [{GUARD_FACT: 1}, *conditions]}


def _clause(clause: Clause, probes: dict[tuple[Any, ...], tuple[int, SetClause]]) -> dict[str, Any]:
    if isinstance(clause, AnyClause):
        return _any([_clause(c, probes) for c in clause.clauses])
    if isinstance(clause, SetClause):
        index, _ = probes.setdefault(clause.probe_key(), (len(probes), clause))
        return _compare(F.probe_fact(index), clause.count)
    return _field(clause)


def _field(clause: FieldClause) -> dict[str, Any]:
    attribute = F.attribute_name(clause.field)
    test = clause.test
    if attribute is not None:
        return _attribute(attribute, test)
    spec = F.FIELDS[clause.field]
    if test.op == "between":
        start, end = test.value
        low, high = {"$gte": {spec.fact: start}}, {"$lt": {spec.fact: end}}
        # A window like 21:00-08:00 wraps past midnight.
        return {"$and": [low, high]} if start <= end else {"$or": [low, high]}
    if test.op == "contains":
        return {"$iany": {spec.fact: {"$i": test.value}}}
    if test.op == "exists" and spec.type == "list":
        # An empty list counts as absent: "has products" means at least one.
        return {"$gt": {f"{spec.fact}_count": 0}} if test.value else {f"{spec.fact}_count": 0}
    return _compare(spec.fact, test)


def _attribute(name: str, test: Test) -> dict[str, Any]:
    if test.op == "exists":
        typed = F.attribute_facts(name)
        if test.value:
            return {"$or": [{"$ex": {fact: 1}} for fact in typed]}
        return {"$and": [{"$nex": {fact: 1}} for fact in typed]}
    if test.op in ("in", "not_in"):
        equalities = [_compare(F.attribute_fact(name, v), Test("eq", v)) for v in test.value]
        if test.op == "in":
            return _any(equalities)
        # One "missing or none of these" per typed fact, not one per value: each `$or` doubles the
        # alternatives the engine expands.
        by_fact: dict[str, list[Any]] = {}
        for v in test.value:
            by_fact.setdefault(F.attribute_fact(name, v), []).append(v)
        return _all([_compare(fact, Test("not_in", tuple(values))) for fact, values in by_fact.items()])
    return _compare(F.attribute_fact(name, test.value), test)


def _compare(fact: str, test: Test) -> dict[str, Any]:
    """One comparison on one flat fact; booleans are compared as the text the fact builder writes."""
    value = _engine_value(test.value)
    if test.op == "eq":
        return {fact: value}
    if test.op == "ne":
        if F.always_present(fact):
            return {"$neq": {fact: value}}
        # $neq does not match a missing field, but "not X" should.
        return {"$or": [{"$nex": {fact: 1}}, {"$neq": {fact: value}}]}
    if test.op == "in":
        return _any([{fact: _engine_value(v)} for v in test.value])
    if test.op == "not_in":
        unequal = _all([{"$neq": {fact: _engine_value(v)}} for v in test.value])
        return unequal if F.always_present(fact) else {"$or": [{"$nex": {fact: 1}}, unequal]}
    if test.op == "exists":
        return {"$ex": {fact: 1}} if test.value else {"$nex": {fact: 1}}
    return {_COMPARE[test.op]: {fact: value}}


def _any(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """An `$or` of the distinct conditions, or the only one: every alternative costs the engine."""
    distinct = list({json.dumps(c, sort_keys=True): c for c in conditions}.values())
    return distinct[0] if len(distinct) == 1 else {"$or": distinct}


def _all(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """An `$and` of the distinct conditions, or the only one."""
    distinct = list({json.dumps(c, sort_keys=True): c for c in conditions}.values())
    return distinct[0] if len(distinct) == 1 else {"$and": distinct}


def _engine_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
