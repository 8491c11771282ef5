"""The reference evaluator's semantics, checked point by point against the real engine on hand cases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from guard.policy.engine import CompiledEngine
from tests.policy import reference

G = {"guard_request": 1}

# (condition, facts, what the engine answers) — each line is a measured behaviour the reference mirrors.
CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    # equality needs the field
    ({"x": 1}, {}, False),
    ({"x": 1}, {"x": 1}, True),
    ({"x": 1}, {"x": 2}, False),
    ({"x": "a"}, {"x": "a"}, True),
    # $neq on a missing field does not match (the compiler adds "or missing" where "not" must hold)
    ({"$neq": {"x": 1}}, {}, False),
    ({"$neq": {"x": 1}}, {"x": 2}, True),
    ({"$neq": {"x": 1}}, {"x": 1}, False),
    # comparisons on a missing field do not match
    ({"$gt": {"x": 1}}, {}, False),
    ({"$lte": {"x": 1}}, {}, False),
    ({"$gt": {"x": 1}}, {"x": 2}, True),
    ({"$gte": {"x": 2}}, {"x": 2}, True),
    ({"$lt": {"x": 2}}, {"x": 2}, False),
    ({"$lte": {"x": 2.5}}, {"x": 2}, True),
    # presence only: an empty text or a zero is present
    ({"$ex": {"x": 1}}, {"x": ""}, True),
    ({"$ex": {"x": 1}}, {"x": 0}, True),
    ({"$ex": {"x": 1}}, {}, False),
    ({"$nex": {"x": 1}}, {}, True),
    ({"$nex": {"x": 1}}, {"x": ""}, False),
    # list membership
    ({"$iany": {"l": {"$i": "a"}}}, {"l": ["b", "a"]}, True),
    ({"$iany": {"l": {"$i": "a"}}}, {"l": ["b"]}, False),
    ({"$iany": {"l": {"$i": "a"}}}, {"l": []}, False),
    ({"$iany": {"l": {"$i": "a"}}}, {}, False),
    ({"$iany": {"l": {"$i": "a"}}}, {"l": ["a,b"]}, False),
    # empty $and holds, empty $or does not
    ({"$and": []}, {}, True),
    ({"$or": []}, {}, False),
    ({"$or": [{"$or": []}, {"x": 1}]}, {"x": 1}, True),
    ({"$and": [{"$or": [{"x": 1}, {"y": 1}]}, {"$nex": {"z": 1}}]}, {"y": 1}, True),
    # texts are equal only when identical
    ({"x": "a"}, {"x": "A"}, False),
    ({"x": "a"}, {"x": "a "}, False),
    ({"x": "é"}, {"x": "e\u0301"}, False),
    ({"x": "1"}, {"x": "1.0"}, False),
    ({"x": 'x"y'}, {"x": 'x"y'}, True),
    ({"x": "a\u0000b"}, {"x": "a\u0000c"}, False),
    ({"x": "\ud800"}, {"x": "\ud800"}, True),  # a lone surrogate, as JSON may carry one
    ({"x": "\U0001F600"}, {"x": "\U0001F601"}, False),
    # numbers: an integer equals the same float; 64-bit integers compare exactly; larger ones as doubles
    ({"x": 1}, {"x": 1.0}, True),
    ({"x": 0.1}, {"x": 0.1}, True),
    ({"x": 0.3}, {"x": 0.30000000000000004}, False),
    ({"$gt": {"x": 0.1}}, {"x": 0.10000000000000002}, True),
    ({"$gt": {"x": 2**63 - 2}}, {"x": 2**63 - 1}, True),
    ({"$lt": {"x": -(2**63) + 1}}, {"x": -(2**63)}, True),
    ({"$gt": {"x": 10**19}}, {"x": 10**19 + 10**4}, True),
    ({"x": 2**63}, {"x": 2**63}, True),
    ({"x": 2**53}, {"x": float(2**53)}, True),
    # floats Python writes with an exponent (the engine refused `1e-05` before the adapter fixed it)
    ({"$gt": {"x": 0}}, {"x": 1e-05}, True),
    ({"$lt": {"x": 1e-05}}, {"x": 1e-06}, True),
    ({"x": 1e16}, {"x": 10**16}, True),
    ({"$gt": {"x": 1e300}}, {"x": 1.7976931348623157e308}, True),
    ({"x": -0.0}, {"x": 0}, True),
]


@pytest.fixture(scope="module")
def evaluate() -> Iterator[Any]:
    engines: list[CompiledEngine] = []

    def run(condition: dict[str, Any], facts: dict[str, Any]) -> bool:
        engine = CompiledEngine({"r": {"all": [{"m": {"$and": [G, condition]}}]}}, "reference")
        engines.append(engine)
        return engine.matches({**G, **facts}) == ["r"]

    yield run
    for engine in engines:
        engine.close()


@pytest.mark.parametrize(("condition", "facts", "expected"), CASES, ids=[f"{c}~{f}" for c, f, _ in CASES])
def test_reference_mirrors_the_engine(evaluate: Any, condition: dict[str, Any], facts: dict[str, Any],
                                      expected: bool) -> None:
    assert evaluate(condition, facts) is expected
    assert reference.holds({"$and": [G, condition]}, {**G, **facts}) is expected


# The engine coerces where the reference refuses: the compiler must never emit these comparisons.
COERCED = [
    ({"x": 1}, {"x": "1"}, True),  # a text equals a number written the same way
    ({"$neq": {"x": 1}}, {"x": "1"}, False),
    ({"$gt": {"x": 1}}, {"x": "a"}, True),  # a text orders against a number
    ({"x": "true"}, {"x": True}, True),  # a boolean is its text
    ({"x": 1}, {"x": True}, True),
]


@pytest.mark.parametrize(("condition", "facts", "engine_answer"), COERCED)
def test_untyped_comparisons_are_refused_by_the_reference(
    evaluate: Any, condition: dict[str, Any], facts: dict[str, Any], engine_answer: bool
) -> None:
    assert evaluate(condition, facts) is engine_answer
    with pytest.raises(reference.Untyped):
        reference.holds(condition, facts)


def test_reference_refuses_shapes_the_compiler_never_emits() -> None:
    with pytest.raises(reference.Untyped):
        reference.holds({"$mt": {"x": "a.*"}}, {"x": "ab"})
    with pytest.raises(reference.Untyped):
        reference.matching_rules({"r": {"any": [{"m": {"x": 1}}]}}, {"x": 1})
    with pytest.raises(reference.Untyped):
        reference.holds({"x": 1, "y": 2}, {"x": 1, "y": 2})


def test_matching_rules_names_every_matching_rule() -> None:
    definition = {name: {"all": [{"m": {"$and": [G, cond]}}]}
                  for name, cond in {"a": {"x": 1}, "b": {"$nex": {"y": 1}}, "c": {"x": 2}}.items()}
    assert reference.matching_rules(definition, {**G, "x": 1}) == ["a", "b"]
    engine = CompiledEngine(definition, "reference")
    try:
        assert sorted(engine.matches({**G, "x": 1})) == ["a", "b"]
    finally:
        engine.close()
