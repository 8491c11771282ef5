"""Streams and batches spread over helper processes decide exactly as the worker alone does: in input order,
bad lines their own errors, frequency caps and idempotency keys exact across chunks, and a verdict evaluated
ahead is dropped when the customer's situation changed before the write."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guard.app import Guard
from guard.core.config import Settings
from guard.core.strictjson import ndjson
from guard.core.timeutil import utcnow
from guard.decisions.campaign import answer_of, decide_requests, screen_stream
from guard.decisions.service import Prepared, decide_batch, decide_evaluated, evaluate_ahead
from guard.lifecycle.active import ActiveRules
from guard.situation.events import ingest_batch
from guard.storage.database import Database
from tests.conftest import RULES_DIR, event

START = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def spread(committed_db: Database) -> Iterator[Guard]:
    """A production-like Guard with two helper processes (whatever this machine's cores)."""
    guard = Guard(Settings(database_url=committed_db.url, rules_dir=str(RULES_DIR), stream_processes=3),
                  db=committed_db, rules=ActiveRules(committed_db, check_interval=0))
    guard.seed_rules()
    yield guard
    assert guard.helpers is not None
    guard.helpers.close()


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _situations(db: Database, prefix: str) -> None:
    """Open complaints and withdrawn consents for some customers of `prefix`."""
    ingest_batch(db, [event(f"{prefix}rep-{n}", "complaint.opened", _iso(START - timedelta(days=2)), case_id=f"K{n}")
                      for n in range(0, 40, 7)]
                 + [event(f"{prefix}one-{n}", "consent.withdrawn", _iso(START - timedelta(days=3)),
                          channel="email", purpose="marketing") for n in range(1, 400, 9)])


def _campaign(prefix: str) -> list[str]:
    """400 lines: 40 customers five times each, spread over many chunks (frequency caps), one-off customers,
    keyed lines repeated later (the same request, and a different one), surveys that accept holds, and poison."""
    lines = []
    seen: dict[str, int] = {}
    for i in range(400):
        if i % 37 == 11:
            lines.append('{"customer_id": "bad", "channel": ' if i % 2 else json.dumps(
                {"customer_id": "x", "channel": "fax", "purpose": "marketing"}))
            continue
        customer = f"{prefix}rep-{(i // 2) % 40}" if i % 2 == 0 else f"{prefix}one-{i}"
        n = seen[customer] = seen.get(customer, -1) + 1
        body: dict[str, Any] = {"customer_id": customer, "channel": "email", "purpose": "marketing",
                                "send_at": _iso(START + timedelta(hours=n))}
        if i % 13 == 4:  # a survey that accepts holds: held for the customers with an open complaint
            body["purpose"], body["hold"] = "survey", True
        if i % 10 == 5:
            body["idempotency_key"] = f"{prefix}key-{i % 50}"  # each key twice: the second a repeat or a conflict
            body["send_at"] = _iso(START)
        lines.append(json.dumps(body))
    return lines


def _screen(guard: Guard, lines: list[str], helpers: bool, built: list[bool] | None = None) -> list[dict[str, Any]]:
    """The stream's answers; `built`: filled with whether each came built and encoded by a helper."""
    body = io.BytesIO(("\n".join(lines) + "\n").encode())
    results = list(screen_stream(guard.db, lambda: guard.evaluator, ndjson(body, parse=False), "tool", chunk_size=30,
                                 helpers=guard.helpers if helpers else None))
    if built is not None:
        built.extend(isinstance(r, Prepared) for r in results)
    return [answer_of(r) for r in results]


def _comparable(results: list[dict[str, Any]], prefix: str) -> list[str]:
    """Each result without its decision's id and time, and customers without the run's prefix."""
    out = []
    for r in results:
        kept = {k: v for k, v in r.items() if k not in ("decision_id", "evaluated_at")}
        if "error" in kept:
            kept["error"] = {k: v for k, v in kept["error"].items() if k != "details"}
        if "hold" in kept:
            kept["hold"] = {k: v for k, v in kept["hold"].items() if k not in ("hold_id", "expires_at")}
        out.append(json.dumps(kept, sort_keys=True).replace(prefix, "P-"))
    return out


def test_a_spread_stream_answers_line_for_line_as_the_worker_alone(spread: Guard):
    _situations(spread.db, "a-")
    _situations(spread.db, "b-")
    alone = _screen(spread, _campaign("a-"), helpers=False)
    built: list[bool] = []
    ahead = _screen(spread, _campaign("b-"), helpers=True, built=built)
    # Plain decisions come built by the helpers; keyed ones, poison and capped customers' later ones do not.
    assert 100 < sum(built) < 400
    assert spread.helpers is not None and spread.helpers.available  # no helper was lost on the way
    assert [r["index"] for r in ahead] == list(range(400))
    assert _comparable(ahead, "b-") == _comparable(alone, "a-")
    outcomes = [r.get("outcome") for r in ahead]
    assert outcomes.count("defer") >= 40  # the fourth and fifth marketing message of a week wait
    assert outcomes.count("hold") >= 2
    assert {r["error"]["code"] for r in ahead if "error" in r} >= {"malformed_json", "validation_failed",
                                                                     "idempotency_conflict"}


def test_a_retried_spread_stream_decides_nothing_twice(spread: Guard):
    lines = [json.dumps({"customer_id": f"c{i}", "channel": "email", "purpose": "marketing",
                         "send_at": _iso(START), "idempotency_key": f"k{i}"}) for i in range(300)]
    first = _screen(spread, lines, helpers=True)
    again = _screen(spread, lines, helpers=True)
    assert [r["decision_id"] for r in again] == [r["decision_id"] for r in first]


def test_a_verdict_evaluated_ahead_is_dropped_when_the_situation_changed_before_the_write(spread: Guard):
    now = utcnow()
    message = {"channel": "email", "purpose": "marketing", "send_at": _iso(START)}
    decide_batch(spread.db, spread.evaluator, [{**message, "customer_id": "capped"} for _ in range(2)])
    items = evaluate_ahead(spread.db, spread.evaluator, [{**message, "customer_id": c} for c in
                                                         ("capped", "angry", "calm")], "tool", None, now)
    assert [i.verdict.outcome for i in items if i.verdict] == ["allow", "allow", "allow"]
    # Between evaluation and write: a third decision for one customer, a complaint for another.
    decide_batch(spread.db, spread.evaluator, [{**message, "customer_id": "capped"}])
    ingest_batch(spread.db, [event("angry", "complaint.opened", _iso(START - timedelta(days=1)), case_id="K1")])
    results = decide_evaluated(spread.db, spread.evaluator, items, now)
    assert [r["outcome"] for r in results] == ["defer", "reroute", "allow"]


def test_a_spread_batch_answers_as_the_worker_alone(spread: Guard):
    _situations(spread.db, "a-")
    _situations(spread.db, "b-")
    message = {"channel": "email", "purpose": "marketing", "send_at": _iso(START)}

    def ids(prefix: str) -> list[str]:  # customers repeated across the parts handed to different processes
        return [f"{prefix}rep-{n % 40}" if n % 3 == 0 else f"{prefix}one-{n}" for n in range(1500)]

    alone = decide_requests(spread.db, spread.evaluator, {"message": message, "customer_ids": ids("a-")}, "tool")
    ahead = decide_requests(spread.db, spread.evaluator, {"message": message, "customer_ids": ids("b-")}, "tool",
                            helpers=spread.helpers)
    assert spread.helpers is not None and spread.helpers.available
    assert _comparable(ahead["results"], "b-") == _comparable(alone["results"], "a-")
    assert ahead["summary"] == alone["summary"] and ahead["summary"]["outcomes"]["defer"] > 0
