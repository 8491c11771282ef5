"""The admin workflow from a terminal: push, versions, diff, pull, backtest, activate, roll back."""

from __future__ import annotations

import shutil

from guard.app import Guard
from guard.core.config import Settings
from guard.decisions.service import decide
from tests.conftest import RULES_DIR

EXTRA = """\
rules:
  - id: no-spring
    description: The spring campaign is withdrawn.
    priority: 10
    when:
      - message.campaign_id: spring
    outcome: block
    explanation: "Campaign {message.campaign_id} is withdrawn."
"""


def _candidate(tmp_path, extra=EXTRA):
    directory = tmp_path / "candidate"
    shutil.copytree(RULES_DIR, directory)
    (directory / "spring.yaml").write_text(extra)
    return directory


def test_push_diff_pull_activate_and_roll_back(invoke, tmp_path):
    first = invoke("rules", "push", str(RULES_DIR), "-m", "starter", "--activate")
    assert first.exit_code == 0 and "Created version 1" in first.output and "Version 1 is active" in first.output
    second = invoke("rules", "push", str(_candidate(tmp_path)), "-m", "withdraw spring")
    assert second.exit_code == 0 and "Created version 2 (parent 1" in second.output

    diff = invoke("rules", "diff", "1", "2")
    assert "+++ v2/spring.yaml" in diff.output and "+  - id: no-spring" in diff.output
    pulled = invoke("rules", "pull", "2", str(tmp_path / "out"))
    assert pulled.exit_code == 0 and (tmp_path / "out" / "spring.yaml").read_text() == EXTRA

    assert "Version 2 is active (was 1)" in invoke("rules", "activate", "2", "-m", "go").output
    versions = invoke("rules", "versions").output
    assert "* v2" in versions and "activate v2 (from v1)" in versions and ": go" in versions
    assert "activate v1 by" in versions and "vNone" not in versions  # the first activation came from nothing
    rolled = invoke("rules", "rollback", "-m", "too strict")
    assert rolled.exit_code == 0 and "version 1 is active (was 2)" in rolled.output


def test_a_broken_or_failing_version_is_refused(invoke, tmp_path):
    broken = invoke("rules", "push", str(_candidate(tmp_path, EXTRA.replace("message.campaign_id", "campaign"))),
                    "-m", "typo")
    assert broken.exit_code == 1 and "spring.yaml:6:9: [no-spring]" in broken.output
    failing = EXTRA + "tests:\n  - name: wrong\n    message: {channel: email, purpose: marketing, " \
                      "campaign_id: spring}\n    expect: {outcome: allow}\n"
    refused = invoke("rules", "push", str(_candidate(tmp_path / "b", failing)), "-m", "bad test")
    assert refused.exit_code == 1 and "FAIL spring.yaml" in refused.output
    assert invoke("rules", "versions").output == ""


def test_backtest_reports_what_would_change(invoke, tmp_path, cli_db_url):
    invoke("rules", "push", str(RULES_DIR), "-m", "starter", "--activate")
    guard = Guard(Settings(database_url=cli_db_url))
    for customer, campaign in (("a", "spring"), ("b", "spring"), ("c", "summer")):
        decide(guard.db, guard.evaluator, {"customer_id": customer, "channel": "email", "purpose": "marketing",
                                           "campaign_id": campaign, "send_at": "2026-03-10T12:00:00Z"})
    guard.db.dispose()
    result = invoke("rules", "backtest", str(_candidate(tmp_path)), "--since", "2026-03-01", "--until", "2026-04-01",
                    "--processes", "2")
    assert result.exit_code == 0, result.output
    assert "3 decisions replayed" in result.output and "2 would change" in result.output
    assert "allow -> block    2" in result.output and "spring: 2 / 2" in result.output
    assert "By rule (matched before / would match / changed decisions it now wins):" in result.output
    assert "  no-spring: 0 / 2 / 2" in result.output
    assert invoke("rules", "backtest").exit_code == 2
