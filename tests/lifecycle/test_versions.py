"""Stored versions: validation and tests gate creation and activation; activation and rollback are seen at once."""

from __future__ import annotations

import pytest

from guard.core.errors import Conflict, NotFound, RulesInvalid, RuleTestsFailed, ValidationFailed
from guard.decisions.service import decide
from guard.lifecycle.versions import activate, create_version, diff_versions, list_versions, rollback
from guard.policy.ast import RuleSource
from tests.lifecycle.conftest import replace_in

BROKEN = """\
rules:
  - id: x
    description: d
    when:
      - mesage.purpose: marketing
    outcome: reroute
    explanation: e
"""
MARKETING = {"customer_id": "c-1", "channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}


def test_seeding_stores_and_activates_the_directory_once(live_guard):
    first = live_guard.seed_rules()
    again = live_guard.seed_rules()
    assert first == again == 1
    with live_guard.db.sessions() as session:
        listing = list_versions(session)
    assert listing["active"] == 1
    assert [v["number"] for v in listing["versions"]] == [1]
    assert listing["versions"][0]["tests"]["passed"] > 0


def test_a_broken_file_is_refused_with_exact_locations(live_guard):
    broken = RuleSource("broken.yaml", BROKEN)
    with pytest.raises(RulesInvalid) as caught:
        create_version(live_guard.db, [broken], "alice", "try")
    errors = caught.value.details["errors"]
    assert {(e["file"], e["line"], e["column"]) for e in errors} == {("broken.yaml", 5, 9), ("broken.yaml", 2, 5)}
    assert any("message.purpose" in e["message"] for e in errors)
    assert all(e["rule_id"] == "x" for e in errors)


def test_a_version_whose_own_tests_fail_is_refused(live_guard, starter_sources):
    # care-first now reroutes to "care-team": its own tests expect "care".
    changed = replace_in(starter_sources, "care.yaml", "route: care\n", "route: care-team\n")
    with pytest.raises(RuleTestsFailed) as caught:
        create_version(live_guard.db, changed, "alice", "rename the route")
    failed = caught.value.details["failed"]
    assert [f["name"] for f in failed] == ["marketing during an open complaint goes to care"]
    assert failed[0]["file"] == "care.yaml"


def test_activation_and_rollback_change_what_decides(live_guard, starter_sources):
    loud = replace_in(starter_sources, "care.yaml", "complaint.opened, ago: 2d", "complaint.opened, ago: 2d")
    loud.append(RuleSource("extra.yaml", EXTRA_RULE))
    created = create_version(live_guard.db, loud, "alice", "block vip marketing")
    assert created["number"] == 2 and created["parent"] == 1 and created["author"] == "alice"
    vip = {**MARKETING, "attributes": {"segment": "vip"}}
    assert decide(live_guard.db, live_guard.evaluator, vip)["outcome"] == "allow"

    activation = activate(live_guard.db, 2, "alice", "go")
    assert activation["previous"] == 1
    answer = decide(live_guard.db, live_guard.evaluator, vip)
    assert (answer["outcome"], answer["rules_version"]) == ("block", 2)

    back = rollback(live_guard.db, "bob", "too strict")
    assert (back["version"], back["previous"], back["kind"]) == (1, 2, "rollback")
    answer = decide(live_guard.db, live_guard.evaluator, vip)
    assert (answer["outcome"], answer["rules_version"]) == ("allow", 1)


def test_rollback_with_nothing_before_is_a_conflict(live_guard):
    with pytest.raises(Conflict):
        rollback(live_guard.db, "bob", "undo")


def test_activating_an_unknown_version_is_not_found(live_guard):
    with pytest.raises(NotFound):
        activate(live_guard.db, 99, "bob", "go")


def test_a_message_is_required(live_guard, starter_sources):
    with pytest.raises(ValidationFailed):
        create_version(live_guard.db, starter_sources, "alice", "  ")


def test_diff_between_versions_shows_the_change(live_guard, starter_sources):
    create_version(live_guard.db, [*starter_sources, RuleSource("extra.yaml", EXTRA_RULE)], "alice", "add")
    with live_guard.db.sessions() as session:
        diff = diff_versions(session, 1, 2)
        same = diff_versions(session, 1, 1)
    assert diff["changed"] and "+++ v2/extra.yaml" in diff["diff"] and "+  - id: vip-quiet" in diff["diff"]
    assert not same["changed"] and same["diff"] == ""


EXTRA_RULE = """\
rules:
  - id: vip-quiet
    description: VIP customers get no campaigns this month.
    priority: 10
    when:
      - message.purpose: marketing
      - attributes.segment: vip
    outcome: block
    explanation: "No campaigns for {attributes.segment} customers this month."
tests:
  - name: vip marketing is blocked
    message: {channel: email, purpose: marketing, attributes: {segment: vip}}
    expect: {outcome: block, rule_id: vip-quiet}
"""
