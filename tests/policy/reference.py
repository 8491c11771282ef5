"""A tiny pure-Python evaluator of the compiled durable-rules JSON that guard.policy.compiler emits.

Used only in tests, to compare the real engine with (differential testing). It mirrors the engine's
semantics as measured (see tests/policy/test_reference.py, which checks each point against the engine):

- `{field: value}` (equality), `$neq`, `$gt/$gte/$lt/$lte` and `$iany` need the field to be present:
  on a missing field they do not match (so `$neq` on a missing field is false);
- `$ex` / `$nex` test presence only (an empty string or 0 is present);
- `$and` of nothing is true, `$or` of nothing is false;
- strings are equal only when identical (no case folding, no Unicode normalisation, no trimming);
- numbers compare as numbers: two integers that fit in 64 bits exactly, anything else as doubles (the
  engine compares an integer with a float as doubles, and the adapter sends larger integers as doubles);
- `$iany: {list: {$i: value}}` holds when some element of the list equals the value.

Where the engine would silently coerce (a string compared with a number, an ordering test on text, a
boolean), the compiler is supposed never to emit such a comparison: the reference raises `Untyped` so a
compiler regression shows up as a failure instead of agreeing with the engine by accident.
"""

from __future__ import annotations

from typing import Any

_INT64 = 2**63


class Untyped(AssertionError):
    """The compiled form compares values of different kinds, or has a shape the compiler never emits."""


def matching_rules(definition: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """Names of the rules of a compiled ruleset whose condition holds for one fact document, sorted."""
    out = []
    for name, rule in definition.items():
        if set(rule) != {"all"} or len(rule["all"]) != 1 or set(rule["all"][0]) != {"m"}:
            raise Untyped(f"rule {name!r} has a shape the compiler does not emit: {rule!r}")
        if holds(rule["all"][0]["m"], facts):
            out.append(name)
    return sorted(out)


def holds(node: dict[str, Any], facts: dict[str, Any]) -> bool:
    """Whether one compiled condition holds for a fact document."""
    if not isinstance(node, dict) or len(node) != 1:
        raise Untyped(f"a condition is a mapping with one key: {node!r}")
    (key, arg), = node.items()
    if key == "$and":
        return all(holds(child, facts) for child in _children(arg))
    if key == "$or":
        return any(holds(child, facts) for child in _children(arg))
    if key in ("$ex", "$nex"):
        field = _single_field(arg)
        return (field in facts) == (key == "$ex")
    if key == "$iany":
        field = _single_field(arg)
        inner = arg[field]
        if not isinstance(inner, dict) or set(inner) != {"$i"}:
            raise Untyped(f"$iany takes {{field: {{$i: value}}}}: {arg!r}")
        if field not in facts:
            return False
        values = facts[field]
        if not isinstance(values, list):
            raise Untyped(f"$iany on {field!r}, which is not a list: {values!r}")
        return any(equal(item, inner["$i"]) for item in values)
    if key in ("$neq", "$gt", "$gte", "$lt", "$lte"):
        field = _single_field(arg)
        if field not in facts:
            return False
        if key == "$neq":
            return not equal(facts[field], arg[field])
        return order(key, facts[field], arg[field])
    if key.startswith("$"):
        raise Untyped(f"operator {key} is not part of the compiled subset")
    return key in facts and equal(facts[key], arg)


def _children(arg: Any) -> list[dict[str, Any]]:
    if not isinstance(arg, list):
        raise Untyped(f"$and/$or take a list: {arg!r}")
    return arg


def _single_field(arg: Any) -> str:
    if not isinstance(arg, dict) or len(arg) != 1:
        raise Untyped(f"an operator takes one field: {arg!r}")
    return next(iter(arg))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if _is_number(value):
        return "number"
    raise Untyped(f"the compiled subset compares texts and numbers only, not {value!r}")


def _numbers(a: int | float, b: int | float) -> tuple[int | float, int | float]:
    if isinstance(a, int) and isinstance(b, int) and -_INT64 <= a < _INT64 and -_INT64 <= b < _INT64:
        return a, b
    return float(a), float(b)


def equal(fact: Any, value: Any) -> bool:
    """Engine equality of a fact value and a rule value."""
    if _kind(fact) != _kind(value):
        raise Untyped(f"a text is compared with a number: {fact!r} vs {value!r}")
    if isinstance(fact, str):
        return fact == value
    a, b = _numbers(fact, value)
    return a == b


def order(op: str, fact: Any, value: Any) -> bool:
    """Engine ordering `fact <op> value` on numbers."""
    if _kind(fact) != "number" or _kind(value) != "number":
        raise Untyped(f"ordering is only compiled for numbers: {fact!r} {op} {value!r}")
    a, b = _numbers(fact, value)
    return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]
