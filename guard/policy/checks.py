"""Semantic checks beyond syntax: conditions that contradict each other, so a rule case can never match."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from guard.core import vocabulary as F
from guard.policy.ast import Clause, FieldClause, Rule, RuleError, SetClause, Test

_NO_VALUE: Any = object()


_EXACT = 2**53  # every integer up to this is exactly a double


def never_matching(rules: tuple[Rule, ...]) -> list[RuleError]:
    """An error for every rule case whose own conditions contradict each other."""
    errors = []
    for rule in rules:
        for case in rule.cases:
            problem = contradiction((*rule.when, *case.when))
            if problem:
                loc = case.location
                errors.append(RuleError(loc.file, loc.line, loc.column, rule.id,
                                        f"this {'case' if len(rule.cases) > 1 else 'rule'} can never match: {problem}"))
    return errors


def contradiction(clauses: tuple[Clause, ...]) -> str | None:
    """Why these clauses (all required) cannot hold together, or None when they might."""
    by_field: dict[str, list[Test]] = defaultdict(list)
    for clause in clauses:
        if isinstance(clause, FieldClause):
            # `message.attributes.x` and `attributes.x` are the same attribute.
            attribute = F.attribute_name(clause.field)
            by_field[f"attributes.{attribute}" if attribute is not None else clause.field].append(clause.test)
        elif isinstance(clause, SetClause):
            problem = _impossible_count(clause)
            if problem:
                return problem
    for name, tests in by_field.items():
        problem = _field_contradiction(name, tests)
        if problem:
            return problem
    return None


def _impossible_count(clause: SetClause) -> str | None:
    test = clause.count
    if (test.op in ("lt",) and test.value <= 0) or (test.op in ("lte", "eq") and test.value < 0):
        return f"a count of {clause.source} is never {test.op} {test.value}"
    return None


def _field_contradiction(name: str, tests: list[Test]) -> str | None:
    allowed = _allowed_values(name, tests)
    if allowed is not None and not allowed:
        return f"no value of {name} satisfies all of its conditions"
    low, high = _bounds(tests)
    if low is not None and high is not None and (low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1]))):
        return f"{name} cannot be both above {low[0]} and below {high[0]}"
    exists = {t.value for t in tests if t.op == "exists"}
    if exists == {True, False}:
        return f"{name} cannot both exist and not exist"
    return None


def _allowed_values(name: str, tests: list[Test]) -> set[Any] | None:
    """The values a field may still take, or None when they are not a finite set."""
    spec = F.FIELDS.get(name)
    allowed: set[Any] | None = {_typed(v) for v in spec.values} if spec and spec.values else None
    for test in tests:
        if test.op == "eq":
            allowed = {_typed(test.value)} if allowed is None else allowed & {_typed(test.value)}
        elif test.op == "in":
            values = {_typed(v) for v in test.value}
            allowed = values if allowed is None else allowed & values
    if allowed is None:
        return None
    for test in tests:
        if test.op == "ne":
            allowed = allowed - {_typed(test.value)}
        elif test.op == "not_in":
            allowed = allowed - {_typed(v) for v in test.value}
    return allowed


def _typed(value: Any) -> tuple[str, Any]:
    """A value with its kind: an attribute `true` is not the number 1 (Python's sets would merge them)."""
    if isinstance(value, bool):
        return ("bool", value)
    if _number(value):
        # Past 2**53 the engine may compare a number as a double (integers beyond 64 bits become doubles):
        # such values are equal when their doubles are, so "never" is only claimed when it surely holds.
        return ("number", float(value) if abs(value) > _EXACT else value)
    return ("text", value)


def _bounds(tests: list[Test]) -> tuple[tuple[Any, bool] | None, tuple[Any, bool] | None]:
    """The tightest lower and upper bound (value, strict) of numeric comparisons."""
    low: tuple[Any, bool] | None = None
    high: tuple[Any, bool] | None = None
    for test in tests:
        if test.op in ("gt", "gte") and _number(test.value):
            candidate = (test.value, test.op == "gt")
            if low is None or candidate > low:
                low = candidate
        elif test.op in ("lt", "lte") and _number(test.value):
            candidate = (test.value, test.op == "lt")
            if high is None or (candidate[0], not candidate[1]) < (high[0], not high[1]):
                high = candidate
    return low, high


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
