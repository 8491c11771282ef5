"""The rule loader and compiler under hostile input: any text gets located errors or a valid rule set, never
a crash or a hang. YAML bombs, deep nesting, huge files and non-UTF-8 bytes are refused with clear errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.policy.ast import RuleError, RuleSource
from guard.policy.parser import MAX_DEPTH, MAX_FILE_BYTES, MAX_RULES, read_directory
from guard.policy.ruleset import check_sources

FUZZ = settings(max_examples=int(os.environ.get("GUARD_FUZZ_RULE_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
# Words of the rule language, so generated files get past the YAML layer into the loader and the compiler.
KEYS = ["rules", "tests", "id", "description", "priority", "exempt", "when", "cases", "outcome", "route",
        "defer_until", "explanation", "message.channel", "message.purpose", "message.product_ids", "open_case",
        "event", "last_event", "decisions", "within", "age", "where", "kind", "type", "in", "not_in", "eq", "ne",
        "gt", "lt", "exists", "any", "count", "local_time", "between", "profile.tenure_years", "attributes.tier",
        "name", "events", "message", "expect", "at", "plus", "as"]
SCALARS = st.one_of(st.sampled_from(["block", "allow", "defer", "reroute", "care", "sms", "email", "marketing",
                                     "3d", "21:00", "-1", "{case.id}", "1e999", "", "null", "x" * 300]),
                    st.integers(), st.booleans(), st.none(), st.text(max_size=20),
                    st.floats(allow_nan=True, allow_infinity=True))
TREES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=8), kids, max_size=5), max_leaves=40)


def _checked(text: str) -> list[RuleError]:
    """check_sources, asserting it answers in time with located errors."""
    started = time.monotonic()
    problems = check_sources([RuleSource("fuzz.yaml", text)])
    assert time.monotonic() - started < 10, "the loader took too long"
    for problem in problems:
        assert isinstance(problem, RuleError)
        assert problem.line >= 1 and problem.column >= 1 and problem.message, problem
        assert problem.severity in ("error", "warning")
    return problems


@FUZZ
@given(st.text(max_size=2000))
def test_any_text_gets_located_errors_or_a_valid_rule_set(text: str):
    _checked(text)


@FUZZ
@given(st.fixed_dictionaries({"rules": st.lists(TREES, max_size=4)}, optional={"tests": TREES}))
def test_rule_shaped_nonsense_gets_located_errors(tree: dict[str, object]):
    _checked(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False))


@FUZZ
@given(st.binary(max_size=500))
def test_any_bytes_from_a_file_are_refused_or_read(data: bytes):
    _checked(data.decode("utf-8", "surrogateescape"))


def _errors(text: str) -> list[str]:
    return [p.message for p in _checked(text) if p.severity == "error"]


def test_a_billion_laughs_bomb_is_refused_without_expanding():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(12))
    assert any("anchors and aliases" in m for m in _errors(bomb))


def test_deep_nesting_is_refused():
    assert _errors("rules: " + "[" * 100_000)  # flow nesting past the parser's recursion
    levels = MAX_DEPTH + 5
    deep = "rules:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(1, levels)) + "  " * levels + "x\n"
    assert any("nesting deeper" in m or "YAML" in m for m in _errors(deep))


def test_a_huge_file_is_refused():
    assert any("larger than" in m for m in _errors("# " + "x" * MAX_FILE_BYTES + "\nrules: []\n"))


def test_too_many_rules_are_refused():
    rule = ("  - id: r{n}\n    description: d\n    when:\n      - message.channel: sms\n"
            "    outcome: block\n    explanation: e\n")
    assert any(f"more than {MAX_RULES} rules" in m for m in _errors(
        "rules:\n" + "".join(rule.format(n=n) for n in range(MAX_RULES + 1))))


def test_non_utf8_files_get_a_located_error(tmp_path: Path):
    (tmp_path / "latin1.yaml").write_bytes("rules:\n  - id: caf\u00e9\n".encode("latin-1"))
    problems = check_sources(read_directory(tmp_path))
    assert [(p.file, p.line, p.column) for p in problems] == [("latin1.yaml", 2, 12)]
    assert "not UTF-8" in problems[0].message and "0xe9" in problems[0].message
