"""docs/rules.md: its complete example files load and pass their own tests; its other claims hold."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from guard.policy import parser as loader
from guard.policy.ast import RuleSource
from guard.policy.compiler import compile_ruleset
from guard.policy.engine import MAX_ALTERNATIVES, alternatives
from guard.policy.parser import parse_sources
from guard.policy.ruleset import build_evaluator
from guard.policy.testing import DEFAULT_SEND_AT, run_tests

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str, marker: str | None = None) -> list[str]:
    found = [(m.group(2).strip(), m.group(3)) for m in BLOCK.finditer(DOC.read_text()) if m.group(1) == language]
    return [text for mark, text in found if marker is None or mark == marker]


COMPLETE = blocks("yaml", "complete")


def test_the_reference_has_complete_examples() -> None:
    assert len(COMPLETE) >= 6


@pytest.mark.parametrize("text", COMPLETE, ids=[f"example-{i + 1}" for i in range(len(COMPLETE))])
def test_each_complete_example_is_valid_and_its_tests_pass(text: str) -> None:
    ruleset, problems = parse_sources([RuleSource("example.yaml", text)])
    assert problems == [], [str(p) for p in problems]
    assert ruleset.rules and ruleset.tests, "a complete example has rules and tests"
    evaluator = build_evaluator([RuleSource("example.yaml", text)])
    try:
        results = run_tests(evaluator)
    finally:
        evaluator.close()
    assert [f"{r.name}: {r.message}" for r in results if not r.passed] == []


def test_fragments_are_valid_yaml_and_the_when_fragment_is_valid_conditions() -> None:
    fragments = blocks("yaml", "")
    assert fragments
    for text in fragments:
        document: Any = yaml.safe_load(text)
        if isinstance(document, dict) and set(document) == {"when"}:
            rule = {"id": "fragment", "description": "d", **document, "outcome": "block", "explanation": "e"}
            _, problems = parse_sources([RuleSource("fragment.yaml", yaml.safe_dump({"rules": [rule]}))])
            assert problems == [], [str(p) for p in problems]


def test_the_error_report_example_is_what_the_loader_says() -> None:
    [invalid] = blocks("yaml", "invalid")
    [report] = blocks("text")
    _, problems = parse_sources([RuleSource("rules/care.yaml", invalid)])
    assert [str(p) for p in problems] == report.strip().splitlines()


def test_the_stated_limits_are_the_code_limits() -> None:
    text = DOC.read_text()
    assert f"at most **{MAX_ALTERNATIVES} alternatives**" in text
    assert f"at most {loader.MAX_FILE_BYTES // 1024} KiB, nested at most {loader.MAX_DEPTH} levels" in text
    assert f"at most {loader.MAX_FILES} files and {loader.MAX_RULES} rules" in text
    assert DEFAULT_SEND_AT.isoformat().replace("+00:00", "Z") in text


def test_the_alternatives_example_counts_four() -> None:
    text = """
rules:
  - id: x
    description: d
    when:
      - message.channel: {in: [sms, push]}
      - local_time: {between: ["21:00", "08:00"]}
    outcome: block
    explanation: e
"""
    compiled = compile_ruleset(parse_sources([RuleSource("x.yaml", text)])[0])
    assert alternatives(compiled.definition["x#0"]["all"][0]["m"]) == 4


def test_every_placeholder_the_loader_knows_is_documented() -> None:
    text = DOC.read_text()
    for placeholder in loader.CONTEXT_PLACEHOLDERS:
        assert "{" + placeholder + "}" in text, placeholder
    bindings = text.split("### Bindings", 1)[1].split("\n## ", 1)[0]
    for source, attributes in loader.BINDING_ATTRIBUTES.items():
        row = next(line for line in bindings.splitlines() if line.startswith(f"| `{source}` |"))
        for attribute in attributes:
            assert f"`{attribute}`" in row, (source, attribute)
