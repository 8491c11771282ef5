"""POST /v1/events: event data is bounded; an unknown event type is stored, said so, and counted."""

from __future__ import annotations

import re

import pytest

from guard.app import Guard, RulesHolder
from guard.core.config import Settings
from guard.policy.ast import RuleSource
from guard.policy.ruleset import build_evaluator
from guard.situation.schemas import MAX_DATA_BYTES, data_size
from guard.web.factory import create_app
from tests.conftest import event
from tests.web.api.conftest import Api


def _sized(size: int) -> dict[str, str]:
    """Event data of exactly `size` bytes as compact JSON."""
    data = {"note": ""}
    data["note"] = "x" * (size - data_size(data))
    assert data_size(data) == size
    return data


def test_event_data_up_to_the_limit_is_stored(api):
    body = {**event("c1", "note.added", "2026-03-01T10:00:00Z", "e-max"), "data": _sized(MAX_DATA_BYTES)}
    assert api.post("/v1/events", json=body).status_code == 201


@pytest.mark.parametrize("size", [MAX_DATA_BYTES + 1, 1024 * 1024])
def test_event_data_beyond_the_limit_is_422_and_nothing_is_stored(api, count, size):
    before = count()
    body = {**event("c1", "complaint.opened", "2026-03-01T10:00:00Z", "e-big"), "data": _sized(size)}
    body["data"]["case_id"] = "K1"
    response = api.post("/v1/events", json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"] == {"data": {"_schema": [f"At most {MAX_DATA_BYTES} bytes as compact JSON."]}}
    assert count() == before


def test_multibyte_text_counts_in_bytes(api):
    body = {**event("c1", "note.added", "2026-03-01T10:00:00Z", "e-mb"),
            "data": {"note": "\u00e9" * (MAX_DATA_BYTES // 2)}}
    assert api.post("/v1/events", json=body).status_code == 422


def test_an_oversized_item_of_a_batch_gets_its_own_error(api, count):
    before = count()["events"]
    good = event("c1", "complaint.opened", "2026-03-01T10:00:00Z", "e-good", case_id="K1")
    big = {**event("c1", "note.added", "2026-03-01T10:00:00Z", "e-big"), "data": _sized(MAX_DATA_BYTES + 1)}
    body = api.post("/v1/events", json={"events": [good, big]}).get_json()
    assert [r["status"] for r in body["results"]] == ["created", "error"]
    assert body["results"][1]["error"]["code"] == "validation_failed"
    assert count()["events"] == before + 1


# -- unknown types -------------------------------------------------------------------------------------------

def _unknown_count(api) -> float:
    text = api.client.get("/metrics").get_data(as_text=True)
    match = re.search(r"^guard_events_unknown_type_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_an_unknown_type_is_stored_with_a_warning_and_counted(api, count):
    before, events = _unknown_count(api), count()["events"]
    response = api.post("/v1/events", json=event("c1", "newsletter.clicked", "2026-03-01T00:00:00Z", link="x"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "created"
    assert body["warnings"] == ["Unknown event type 'newsletter.clicked': stored, but no rule uses it."]
    assert count()["events"] == events + 1
    assert _unknown_count(api) == before + 1


def test_a_misspelt_type_gets_a_suggestion(api):
    response = api.post("/v1/events", json=event("c1", "complaint.opend", "2026-03-01T00:00:00Z", case_id="K1"))
    assert response.status_code == 201
    assert "Did you mean 'complaint.opened'?" in response.get_json()["warnings"][0]


def test_known_types_carry_no_warning_and_a_repeat_is_not_counted_again(api):
    known = api.post("/v1/events", json=event("c1", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K1"))
    assert "warnings" not in known.get_json()
    clicked = event("c1", "newsletter.clicked", "2026-03-01T00:00:00Z")
    api.post("/v1/events", json=clicked)
    before = _unknown_count(api)
    again = api.post("/v1/events", json=clicked)
    assert again.get_json()["status"] == "duplicate" and again.get_json()["warnings"]
    assert _unknown_count(api) == before


def test_batches_warn_per_item(api):
    body = {"events": [event("c1", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K1"),
                       event("c1", "newsletter.clicked", "2026-03-01T00:00:00Z"),
                       event("c1", "newsletter.clicked", "2026-03-01T00:00:00Z", "e-x")]}
    before = _unknown_count(api)
    results = api.post("/v1/events", json=body).get_json()["results"]
    assert ["warnings" in r for r in results] == [False, True, True]
    assert _unknown_count(api) == before + 2


CLICKS = """
rules:
  - id: clicked-recently
    description: Someone who just clicked a newsletter needs no reminder.
    priority: 50
    when:
      - message.purpose: marketing
      - event: {type: newsletter.clicked, within: 1d}
    outcome: block
    explanation: The customer clicked a newsletter within a day.
"""


def test_a_type_the_active_rules_use_is_known(db, db_url, make_key):
    evaluator = build_evaluator([RuleSource("clicks.yaml", CLICKS)])
    try:
        guard = Guard(Settings(database_url=db_url), db=db, rules=RulesHolder(evaluator))
        app = create_app(guard)
        api = Api(app, make_key("events"))
        response = api.post("/v1/events", json=event("c1", "newsletter.clicked", "2026-03-01T00:00:00Z"))
        assert response.status_code == 201
        assert "warnings" not in response.get_json()
        assert "warnings" in api.post("/v1/events", json=event("c1", "newsletter.opened", "2026-03-01T00:00:00Z")
                                      ).get_json()
    finally:
        evaluator.close()
