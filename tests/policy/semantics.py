"""What a rule of our language means, written directly on the rule model: the test oracle for the compiler.

The reference evaluator (reference.py) checks that the engine evaluates the compiled JSON as measured;
this module checks that the compiled JSON says what the rule says. It reads the same flat fact document
the engine sees (guard.policy.facts.build_facts) and never looks at the compiled form.
"""

from __future__ import annotations

from typing import Any

from guard.core import vocabulary as F
from guard.policy.ast import AnyClause, Clause, FieldClause, SetClause, Test
from guard.policy.compiler import CompiledRuleSet
from tests.policy.reference import _numbers

_MISSING = object()


def matching_cases(compiled: CompiledRuleSet, doc: dict[str, Any]) -> list[str]:
    """Engine names (`rule-id#case`) of every case whose conditions hold, sorted."""
    probe_index = {p.probe_key(): i for i, p in enumerate(compiled.probes)}
    out = []
    for name, item in compiled.cases.items():
        clauses = (*item.rule.when, *item.case.when)
        if all(clause_holds(c, doc, probe_index) for c in clauses):
            out.append(name)
    return sorted(out)


def clause_holds(clause: Clause, doc: dict[str, Any], probe_index: dict[Any, int]) -> bool:
    """Whether one clause of the rule model holds for a fact document."""
    if isinstance(clause, AnyClause):
        return any(clause_holds(c, doc, probe_index) for c in clause.clauses)
    if isinstance(clause, SetClause):
        return _test(clause.count, doc[F.probe_fact(probe_index[clause.probe_key()])])
    return _field(clause, doc)


def attribute_value(doc: dict[str, Any], name: str) -> Any:
    """The message attribute as the customer's system sent it (typed), or _MISSING."""
    text, number, flag = F.attribute_facts(name)
    if text in doc:
        return doc[text]
    if number in doc:
        return doc[number]
    if flag in doc:
        return doc[flag] == "true"
    return _MISSING


def _field(clause: FieldClause, doc: dict[str, Any]) -> bool:
    test = clause.test
    name = F.attribute_name(clause.field)
    if name is not None:
        return _test(test, attribute_value(doc, name))
    spec = F.FIELDS[clause.field]
    value = doc.get(spec.fact, _MISSING)
    if spec.type == "list":
        items = value if isinstance(value, list) else []
        if test.op == "exists":
            return bool(items) == test.value
        return any(_same(item, test.value) for item in items)  # contains
    if test.op == "between":
        start, end = test.value
        if start <= end:
            return start <= value < end
        return value >= start or value < end  # wraps past midnight
    return _test(test, value)


def _test(test: Test, value: Any) -> bool:
    op, operand = test.op, test.value
    present = value is not _MISSING
    if op == "exists":
        return present == operand
    if op == "eq":
        return present and _same(value, operand)
    if op == "ne":
        return not (present and _same(value, operand))
    if op == "in":
        return present and any(_same(value, o) for o in operand)
    if op == "not_in":
        return not (present and any(_same(value, o) for o in operand))
    if not present or not _number(value) or not _number(operand):
        return False
    a, b = _numbers(value, operand)
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Typed equality: a text never equals a number, a boolean never equals a number."""
    if _number(a) and _number(b):
        x, y = _numbers(a, b)
        return x == y
    return type(a) is type(b) and a == b
