"""`guard rules validate [DIR]` and `guard rules test [DIR]`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.conftest import RULES_DIR
from tests.policy.hostile import HOSTILE

GOOD = """\
rules:
  - id: no-sms-marketing
    description: Nobody wants adverts by text message.
    priority: 10
    when:
      - message.channel: sms
      - message.purpose: marketing
    outcome: block
    explanation: No marketing by SMS.
tests:
  - name: sms marketing is blocked
    message: {channel: sms, purpose: marketing}
    expect: {outcome: block, rule_id: no-sms-marketing}
  - name: email marketing is allowed
    message: {channel: email, purpose: marketing}
    expect: {outcome: allow}
"""

BROKEN = """\
rules:
  - id: typo
    description: A typo in a field name.
    when:
      - message.purpos: marketing
    outcome: block
    explanation: x
"""


def _dir(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(text)
    return directory


def test_validate_the_shipped_rules(invoke: Invoke):
    result = invoke("rules", "validate", str(RULES_DIR))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_defaults_to_the_configured_directory(invoke: Invoke, tmp_path: Path):
    directory = _dir(tmp_path, broken=BROKEN)
    result = invoke("rules", "validate", env={"GUARD_RULES_DIR": str(directory)})
    assert result.exit_code == 1
    assert "broken.yaml:5:9: [typo] unknown field" in result.output


def test_validate_prints_every_error_located(invoke: Invoke, tmp_path: Path):
    directory = _dir(tmp_path, broken=BROKEN, also=BROKEN.replace("typo", "typo-2"), good=GOOD)
    result = invoke("rules", "validate", str(directory))
    assert result.exit_code == 1
    located = re.findall(r"^(\S+\.yaml):(\d+):(\d+): \[([\w-]+)\] (.+)$", result.stdout, re.M)
    assert [(f, line, rule) for f, line, _, rule, _ in located] == [("also.yaml", "5", "typo-2"),
                                                                     ("broken.yaml", "5", "typo")]
    assert "purpos" in located[0][4]
    assert "2 error(s)" in result.output


def test_validate_prints_warnings_and_still_succeeds(invoke: Invoke, tmp_path: Path):
    directory = _dir(tmp_path, good=GOOD, empty="")
    result = invoke("rules", "validate", str(directory))
    assert result.exit_code == 0, result.output
    assert "empty.yaml:1:1: warning: the file is empty" in result.output
    assert "1 warning(s)" in result.output


def test_validate_an_empty_directory_fails(invoke: Invoke, tmp_path: Path):
    result = invoke("rules", "validate", str(_dir(tmp_path)))
    assert result.exit_code == 1
    assert "no rule files" in result.output


def test_validate_a_missing_directory_fails(invoke: Invoke, tmp_path: Path):
    result = invoke("rules", "validate", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert "not a directory" in result.output


def test_test_runs_the_shipped_rule_tests(invoke: Invoke):
    result = invoke("rules", "test", str(RULES_DIR))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("PASS ") for line in lines[:-1])
    assert re.fullmatch(r"\d+ passed, 0 failed", lines[-1])
    assert re.match(r"PASS \w+\.yaml:\d+ ", lines[0])


def test_test_reports_a_failing_case_with_its_location(invoke: Invoke, tmp_path: Path):
    wrong = GOOD.replace("expect: {outcome: allow}", "expect: {outcome: block}")
    result = invoke("rules", "test", str(_dir(tmp_path, good=wrong)))
    assert result.exit_code == 1
    assert "PASS good.yaml:11 sms marketing is blocked" in result.output
    assert "FAIL good.yaml:14 email marketing is allowed: expected outcome block" in result.output
    assert result.stdout.splitlines()[-1] == "1 passed, 1 failed"


def test_test_fails_on_compile_errors(invoke: Invoke, tmp_path: Path):
    result = invoke("rules", "test", str(_dir(tmp_path, good=GOOD, broken=BROKEN)))
    assert result.exit_code == 1
    assert "broken.yaml:5:9: [typo] unknown field" in result.output
    assert "PASS" not in result.output


def test_test_an_empty_directory_fails(invoke: Invoke, tmp_path: Path):
    assert invoke("rules", "test", str(_dir(tmp_path))).exit_code == 1


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_validate_locates_what_once_was_a_crash(invoke: Invoke, tmp_path: Path, name: str):
    text, line, column, word = HOSTILE[name]
    result = invoke("rules", "validate", str(_dir(tmp_path, bad=text)))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(rf"^bad\.yaml:{line}:{column}: (\[r1\] )?.*{re.escape(word)}", result.output, re.M), \
        result.output
