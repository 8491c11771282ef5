"""Holds where other features meet them: backtests replay held requests as held, erasure removes holds."""

from __future__ import annotations

from typing import Any

from guard.app import Guard
from guard.audit.retention import erase_customer
from guard.holds.worker import HoldWorker
from guard.lifecycle.backtest import run_backtest
from tests.holds.conftest import at, hold_rows, post_event, survey


def test_a_backtest_with_the_same_rules_changes_nothing(client: Any, guard: Guard):
    post_event(client, "ann", "complaint.opened", at(-9), case_id="C-1")
    held = client.post("/v1/decisions", json=survey("ann", send_at=at(-4))).get_json()
    assert held["outcome"] == "hold"
    post_event(client, "ann", "complaint.resolved", at(-3.5), case_id="C-1")
    assert HoldWorker(guard.db, lambda: guard.evaluator).turn() == 1  # released: a second, held_from decision
    report = run_backtest(guard.db, guard.evaluator)
    assert report["total"] == 2 and report["skipped"] == 0
    assert report["changed"] == 0, report["matrix"]
    assert {(m["from"], m["to"]) for m in report["matrix"]} == {("hold", "hold"), ("allow", "allow")}


def test_erasing_a_customer_removes_their_holds(client: Any, guard: Guard):
    post_event(client, "bob", "complaint.opened", at(-1), case_id="C-2")
    assert client.post("/v1/decisions", json=survey("bob")).get_json()["outcome"] == "hold"
    post_event(client, "cat", "complaint.opened", at(-1), case_id="C-3")
    assert client.post("/v1/decisions", json=survey("cat")).get_json()["outcome"] == "hold"
    erase_customer(guard.db, "bob")
    assert [r["case_id"] for r in hold_rows(guard.db)] == ["C-3"]
