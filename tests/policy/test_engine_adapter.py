"""The engine adapter (guard.policy.engine) around durable-rules' traps, and the rule limits that keep clear of them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.core.errors import RulesInvalid
from guard.policy import ruleset as ruleset_module
from guard.policy.ast import RuleSource
from guard.policy.compiler import compile_ruleset
from guard.policy.engine import MAX_ALTERNATIVES, CompiledEngine, EngineError, _action_name, alternatives, encode
from guard.policy.parser import parse_sources
from guard.policy.ruleset import build_evaluator, check_sources, parse_checked
from tests.policy.strategies import ATTRIBUTE_VALUES, NUMBERS, fact_documents

ROOT = Path(__file__).resolve().parents[2]
G = {"guard_request": 1}


def _engine(**conditions: dict) -> CompiledEngine:
    return CompiledEngine({name: {"all": [{"m": {"$and": [G, c]}}]} for name, c in conditions.items()}, "adapter")


@pytest.mark.parametrize(("value", "text"), [
    (1e-05, "1.0e-05"), (1e16, "1.0e+16"), (1.5e-07, "1.5e-07"), (0.1, "0.1"), (-2.0, "-2.0"),
    (2**63 - 1, str(2**63 - 1)), (2**63, "9.223372036854776e+18"), (-(2**63), str(-(2**63))),
    ("é\ud800", '"\\u00e9\\ud800"'), (True, "true"), (None, "null"),
])
def test_encode_writes_what_the_engine_reads(value: object, text: str) -> None:
    assert encode(value) == text
    assert json.loads(text) == (float(value) if isinstance(value, int) and abs(value) >= 2**63 else value)


_SCALARS = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                     st.none(), st.sampled_from(ATTRIBUTE_VALUES), st.sampled_from(NUMBERS))


@settings(max_examples=500)
@given(st.lists(fact_documents(3), max_size=1) | st.lists(
    st.dictionaries(st.text(), _SCALARS | st.lists(_SCALARS, max_size=3) | st.tuples(_SCALARS)), max_size=1),
    st.sampled_from(ATTRIBUTE_VALUES) | _SCALARS)
def test_a_fact_document_encodes_as_its_items_one_by_one(documents: list[dict[str, Any]], extra: object) -> None:
    # Flat documents take the C encoder's fast path: its text must be the general branches' text, byte for byte.
    for document in documents:
        for doc in (document, {**document, "a_n__x": extra}):
            items = ",".join(f"{json.dumps(k)}:{_one_by_one(v)}" for k, v in doc.items())
            assert encode(doc) == "{" + items + "}"


def _one_by_one(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return encode(value)


def test_an_action_name_is_read_without_parsing_the_fact() -> None:
    engine = _engine(**{"r.x-1_#0": {"channel": "email"}}, plain={"channel": "email"})
    try:
        assert sorted(engine.matches({**G, "channel": "email", "note": '"}{\\'})) == ["plain", "r.x-1_#0"]
    finally:
        engine.close()
    assert _action_name('{"a\\"b":{"m":{}}}') == 'a"b'


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**400, object()])
def test_encode_refuses_what_the_engine_cannot_take(value: object) -> None:
    with pytest.raises(EngineError):
        encode({"x": [value]})


def test_exponent_floats_in_rules_and_facts_are_evaluated() -> None:
    engine = _engine(small={"$gt": {"x": 1e-05}}, big={"$gte": {"x": 1e16}})
    try:
        assert engine.matches({**G, "x": 1e-04}) == ["small"]
        assert sorted(engine.matches({**G, "x": 1e20})) == ["big", "small"]
        assert engine.matches({**G, "x": 1e-06}) == []
    finally:
        engine.close()


def test_integers_beyond_64_bits_keep_their_order() -> None:
    engine = _engine(r={"$gt": {"x": 12345678901234567890}})
    try:
        assert engine.matches({**G, "x": 12345678901234567890 * 10}) == ["r"]
        assert engine.matches({**G, "x": 5}) == []
    finally:
        engine.close()


def test_a_lone_surrogate_in_request_data_is_a_plain_string() -> None:
    engine = _engine(r={"x": "a\ud800"})
    try:
        assert engine.matches({**G, "x": "a\ud800"}) == ["r"]
        assert engine.matches({**G, "x": "a\ud801"}) == []
    finally:
        engine.close()


def test_a_non_finite_fact_is_an_engine_error_not_a_crash() -> None:
    engine = _engine(r={"$gt": {"x": 1}})
    try:
        with pytest.raises(EngineError):
            engine.matches({**G, "x": math.inf})
        assert engine.matches({**G, "x": 2}) == ["r"]  # the engine is still usable
    finally:
        engine.close()


def test_a_rule_whose_alternatives_both_hold_is_named_once() -> None:
    engine = _engine(r={"$and": [{"$or": [{"x": 1}, {"y": 1}]}, {"$or": [{"$ex": {"z": 1}}, {"w": 1}]}]})
    try:
        assert engine.matches({**G, "x": 1, "y": 1, "z": 1, "w": 1}) == ["r"]
    finally:
        engine.close()


def test_facts_are_retracted_after_each_evaluation() -> None:
    engine = _engine(r={"x": 1}, s={"$nex": {"x": 1}})
    try:
        for _ in range(3):
            assert engine.matches({**G, "x": 1}) == ["r"]
            assert engine.matches(dict(G)) == ["s"]
    finally:
        engine.close()


def test_closed_engine_refuses_to_evaluate() -> None:
    engine = _engine(r={"x": 1})
    engine.close()
    engine.close()  # twice is harmless
    with pytest.raises(EngineError):
        engine.matches({**G, "x": 1})


def test_alternatives_count_the_expansion() -> None:
    assert alternatives({"x": 1}) == 1
    assert alternatives({"$or": [{"x": 1}, {"x": 2}, {"$and": [{"y": 1}, {"$or": [{"z": 1}, {"z": 2}]}]}]}) == 4
    assert alternatives({"$and": [{"$or": [{"x": 1}, {"x": 2}]}, {"$or": [{"y": 1}, {"y": 2}, {"y": 3}]}]}) == 6
    assert alternatives({"$or": []}) == 0


def test_the_engine_names_the_rules_it_refuses() -> None:
    # 14 two-way $or in one rule: the engine's expression limit (error 113).
    refused = {"$and": [{"$or": [{f"f{i}": 0}, {f"f{i}": 1}]} for i in range(14)]}
    with pytest.raises(EngineError) as caught:
        _engine(good={"x": 1}, bad=refused)
    assert caught.value.rules == ["bad"]


# -- crashes and hangs measured before the fix: run in a child process so a regression cannot kill the suite --

def _run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_hundreds_of_rules_do_not_crash_the_process() -> None:
    """256 rules in one durable-rules ruleset segfaulted; more than 64 `$or` rules failed every request (303)."""
    child = _run_child("""
        from guard.policy.engine import CompiledEngine
        G = {"guard_request": 1}
        plain = {f"eq{k}": {"all": [{"m": {"$and": [G, {"f": 0}]}}]} for k in range(300)}
        ors = {f"ne{k}": {"all": [{"m": {"$and": [G, {"$or": [{"$nex": {"g": 1}}, {"$neq": {"g": 1}}]}]}}]}
               for k in range(100)}
        engine = CompiledEngine({**plain, **ors}, "many")
        print(len(engine.matches({**G, "f": 0})), len(engine.matches({**G, "g": 1})))
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["400", "0"]


# -- the loader keeps every rule case within what the engine takes -------------------------------------------

def _rule(when: str) -> list[RuleSource]:
    text = f"rules:\n  - id: big\n    description: d\n    when:\n{textwrap.indent(when.strip(), '      ')}\n" \
           "    outcome: block\n    explanation: e\n"
    return [RuleSource("big.yaml", text)]


def test_a_case_of_too_many_alternatives_is_refused_with_its_location() -> None:
    values = ", ".join(f"v{i}" for i in range(7))
    sources = _rule(f"- attributes.a: {{in: [{values}]}}\n- attributes.b: {{in: [{values}]}}")
    _ruleset, problems = parse_checked(sources)
    [problem] = [p for p in problems if p.severity == "error"]
    assert (problem.file, problem.line, problem.column, problem.rule_id) == ("big.yaml", 2, 5, "big")
    assert "49 alternatives" in problem.message and f"the {MAX_ALTERNATIVES}" in problem.message


def test_the_largest_allowed_case_compiles_and_evaluates() -> None:
    values = ", ".join(f"v{i}" for i in range(MAX_ALTERNATIVES))
    sources = _rule(f"- attributes.a: {{in: [{values}]}}")
    assert check_sources(sources) == []
    compiled = compile_ruleset(parse_sources(sources)[0])
    engine = CompiledEngine(compiled.definition, "largest")
    try:
        for value in ("v0", f"v{MAX_ALTERNATIVES - 1}"):
            assert engine.matches({**G, "a_s__a": value}) == ["big#0"]
        assert engine.matches({**G, "a_s__a": "w"}) == []
    finally:
        engine.close()


def test_not_in_and_ne_cost_no_alternative_on_fields_every_request_has() -> None:
    sources = _rule("- message.purpose: {not_in: [transactional, legal]}\n- consent: {ne: withdrawn}\n"
                    "- local_weekday: {ne: sun}\n- message.channel: {not_in: [sms]}")
    compiled = compile_ruleset(parse_sources(sources)[0])
    assert alternatives(compiled.definition["big#0"]["all"][0]["m"]) == 1


def test_an_engine_refusal_is_reported_at_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing:
        def __init__(self, definition: dict, label: str) -> None:
            raise EngineError("Could not create ruleset, error code: 113", ["big#0"])

    monkeypatch.setattr(ruleset_module, "CompiledEngine", Refusing)
    sources = _rule("- message.purpose: marketing")
    [problem] = check_sources(sources)
    assert (problem.file, problem.line, problem.rule_id) == ("big.yaml", 2, "big")
    assert "113" in problem.message


def test_build_evaluator_reports_engine_refusals_located(monkeypatch: pytest.MonkeyPatch) -> None:
    from guard.policy import evaluate

    class Refusing:
        def __init__(self, definition: dict, label: str) -> None:
            raise EngineError("Could not create ruleset, error code: 113", ["big#0"])

    monkeypatch.setattr(evaluate, "CompiledEngine", Refusing)
    with pytest.raises(RulesInvalid) as caught:
        build_evaluator(_rule("- message.purpose: marketing"))
    [error] = caught.value.details["errors"]
    assert (error["file"], error["line"], error["rule_id"]) == ("big.yaml", 2, "big")
