"""Decision answers with and without the hold opt-in: `hold` only where a block says how it clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guard.app import Guard
from tests.holds.conftest import at, hold_rows, post_event, survey


def open_complaint(client: Any, customer: str, case_id: str = "C-1") -> None:
    post_event(client, customer, "complaint.opened", at(-1), case_id=case_id)


def test_a_survey_that_accepts_holds_is_held_for_the_open_complaint(client: Any, guard: Guard):
    open_complaint(client, "ann")
    answer = client.post("/v1/decisions", json=survey("ann")).get_json()
    assert answer["outcome"] == "hold"
    hold = answer["hold"]
    assert hold["hold_id"].startswith("hold_")
    assert hold["waiting_for"] == {"kind": "complaint", "case_id": "C-1", "then": "3d after it closes"}
    expires = datetime.fromisoformat(hold["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=14))) < timedelta(minutes=1)
    assert answer["reasons"][0]["rule_id"] == "no-survey-during-complaint"
    assert answer["reasons"][0]["outcome"] == "block"
    rows = hold_rows(guard.db)
    assert [(r["hold_id"], r["status"], r["release_at"]) for r in rows] == [(hold["hold_id"], "waiting", None)]
    # Read back and listed: the same answer, the hold included.
    read = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert read["outcome"] == "hold" and read["hold"] == hold
    listed = client.get("/v1/holds?customer_id=ann&status=waiting").get_json()["items"]
    assert [h["hold_id"] for h in listed] == [hold["hold_id"]]
    assert listed[0]["decision_id"] == answer["decision_id"]


def test_without_opt_in_answers_are_exactly_as_before(client: Any, guard: Guard):
    open_complaint(client, "bob")
    plain = client.post("/v1/decisions", json=survey("bob", hold=None)).get_json()
    declined = client.post("/v1/decisions", json=survey("bob", hold=False)).get_json()
    for answer in (plain, declined):
        assert answer["outcome"] == "block"
        assert set(answer) == {"decision_id", "outcome", "route", "defer_until", "reasons", "rules_version",
                               "evaluated_at"}
    assert hold_rows(guard.db) == []


def test_a_block_without_release_is_a_block_even_with_opt_in(client: Any, guard: Guard):
    post_event(client, "cat", "consent.withdrawn", at(-1), channel="email", purpose="survey")
    answer = client.post("/v1/decisions", json=survey("cat")).get_json()
    assert answer["outcome"] == "block" and "hold" not in answer
    allowed = client.post("/v1/decisions", json=survey("dan")).get_json()
    assert allowed["outcome"] == "allow" and "hold" not in allowed
    assert hold_rows(guard.db) == []


def test_an_explicit_expiry_is_kept_and_bounded(client: Any):
    open_complaint(client, "eve")
    answer = client.post("/v1/decisions", json=survey("eve", hold={"expires_at": at(days=5)})).get_json()
    assert answer["hold"]["expires_at"] == at(days=5)
    for bad in ({"expires_at": at(days=-1)}, {"expires_at": at(days=400)}, {"expires_at": "soon"}, {"until": 1},
                "yes", 3):
        response = client.post("/v1/decisions", json=survey("eve", hold=bad))
        assert response.status_code == 422, bad
        error = response.get_json()["error"]
        assert error["code"] == "validation_failed"
        assert "hold" in error["details"], error


def test_an_idempotent_repeat_answers_the_same_hold(client: Any, guard: Guard):
    open_complaint(client, "fay")
    body = survey("fay", idempotency_key="k-1")
    first = client.post("/v1/decisions", json=body).get_json()
    again = client.post("/v1/decisions", json=body).get_json()
    assert again == first
    assert len(hold_rows(guard.db)) == 1


def test_a_dry_run_shows_the_hold_and_keeps_nothing(client: Any, guard: Guard):
    open_complaint(client, "gil")
    answer = client.post("/v1/decisions", json=survey("gil", dry_run=True)).get_json()
    assert answer["outcome"] == "hold" and answer["dry_run"] is True
    assert answer["hold"]["hold_id"] is None
    assert answer["hold"]["waiting_for"]["case_id"] == "C-1"
    assert hold_rows(guard.db) == []


def test_a_batch_holds_the_items_that_accept(client: Any, guard: Guard):
    open_complaint(client, "hal")
    response = client.post("/v1/decisions/batch", json={"requests": [survey("hal"), survey("hal", hold=None)]})
    items = response.get_json()["results"]
    assert [i["outcome"] for i in items] == ["hold", "block"]
    assert "hold" in items[0] and "hold" not in items[1]
    assert len(hold_rows(guard.db)) == 1


def test_the_default_expiry_is_configurable(client: Any, guard: Guard, db_url: str):
    from guard.core.config import DEFAULT_HOLD_DAYS, Settings

    assert Settings.from_env({}).hold_days == DEFAULT_HOLD_DAYS == 14
    assert Settings.from_env({"GUARD_HOLD_DAYS": "3"}).hold_days == 3
    with pytest.raises(SystemExit):
        Settings.from_env({"GUARD_HOLD_DAYS": "400"})
    open_complaint(client, "ida")
    Guard(Settings(database_url=db_url, hold_days=3), db=guard.db, rules=guard.rules)  # sets the process default
    try:
        answer = client.post("/v1/decisions", json=survey("ida")).get_json()
    finally:
        Guard(Settings(database_url=db_url), db=guard.db, rules=guard.rules)
    expires = datetime.fromisoformat(answer["hold"]["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=3))) < timedelta(minutes=1)
