"""A decision reads only the events its rules can ask about, and decides exactly as with the whole history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guard.core.message import Message
from guard.decisions.service import decide, events_for
from guard.situation.derive import derive
from guard.situation.queries import load_events
from guard.storage.bulk import EVENT_COLUMNS, insert_rows
from guard.storage.sql import Sql

SEND_AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
OLD = datetime(2020, 1, 1, tzinfo=UTC)
IRRELEVANT = 100_000


def _row(customer: str, event_id: str, type_: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "type": type_, "occurred_at": at,
            "data": json.dumps(data), "content_hash": "0" * 64, "received_at": at}


def _store(guard, rows: list[dict[str, Any]]) -> None:
    with guard.db.transaction() as session:
        insert_rows(Sql.of_session(session), "events", EVENT_COLUMNS, rows)


def _situation_rows(customer: str) -> list[dict[str, Any]]:
    """What matters, however old: a withdrawal, an open complaint; and one purchase inside the 30-day window."""
    return [
        _row(customer, f"{customer}-consent", "consent.withdrawn", OLD, channel="email", purpose="marketing"),
        _row(customer, f"{customer}-complaint", "complaint.opened", OLD + timedelta(days=1), case_id="K1"),
        _row(customer, f"{customer}-resolved", "complaint.resolved", SEND_AT - timedelta(days=1), case_id="K0"),
        _row(customer, f"{customer}-recent", "purchase.completed", SEND_AT - timedelta(days=10), order_id="O-9",
             product_ids=["P1"]),
    ]


def _noise(customer: str, count: int) -> list[dict[str, Any]]:
    """Events no rule asks about: an unknown type, and purchases long out of every window."""
    rows = [_row(customer, f"{customer}-click-{i}", "newsletter.clicked", OLD + timedelta(minutes=i), link="x")
            for i in range(count)]
    rows += [_row(customer, f"{customer}-old-buy-{i}", "purchase.completed", OLD + timedelta(days=i),
                  order_id=f"O-{i}", product_ids=["P1"]) for i in range(200)]
    return rows


@pytest.fixture
def long_history(guard) -> str:
    _store(guard, _situation_rows("long") + _noise("long", IRRELEVANT))
    return "long"


def test_a_customer_with_100k_irrelevant_events_is_not_loaded_whole_and_still_decided_right(guard, long_history):
    with guard.db.raw_reads() as sql:
        loaded = events_for(sql, guard.evaluator, [long_history], SEND_AT, SEND_AT)[long_history]
    assert sorted(e.event_id for e in loaded) == sorted(r["event_id"] for r in _situation_rows(long_history))
    base = {"customer_id": long_history, "send_at": SEND_AT.isoformat(), "product_ids": ["P2"]}
    marketing = decide(guard.db, guard.evaluator, {**base, "channel": "email", "purpose": "marketing"})
    assert marketing["outcome"] == "block"
    # The withdrawal of 2020 still holds, and the complaint opened in 2020 is still open.
    assert {"consent", "care-first"} <= {r["rule_id"] for r in marketing["reasons"]}


def _messages(customer: str) -> list[Message]:
    out = []
    for days in (0, 5, 25, 45):
        for channel in ("email", "sms"):
            for purpose in ("marketing", "survey", "service"):
                for products in (("P1",), ("P2",)):
                    out.append(Message(customer, channel, purpose, SEND_AT + timedelta(days=days), "spring",
                                       products, {}))
    return out


def test_bounded_and_whole_histories_give_the_same_verdicts(guard):
    _store(guard, _situation_rows("mixed") + _noise("mixed", 300))
    with guard.db.sessions() as session:
        everything = load_events(session, "mixed")
    messages = _messages("mixed")
    with guard.db.raw_reads() as sql:
        bounded = events_for(sql, guard.evaluator, ["mixed"], min(m.send_at for m in messages),
                             max(m.send_at for m in messages))["mixed"]
    assert len(bounded) < 10 < len(everything)
    for message in messages:
        whole = guard.evaluator.evaluate(message, derive(everything, message.send_at), [])
        assert guard.evaluator.evaluate(message, derive(bounded, message.send_at), []) == whole, message
