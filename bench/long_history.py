"""Benchmark: one decision about a customer with a long history of events no rule asks about.

Run by hand:  .venv/bin/python -m bench.long_history [--db sqlite|postgres] [--events 100000] [--decisions 50]

One customer gets `--events` old `newsletter.clicked` events plus a consent withdrawal and an open
complaint; another has just those two. Each is decided `--decisions` times through the decide use case
(sequentially, committed); the median time per decision is printed for both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta
from typing import Any

from bench.common import ROOT, START, fresh_database
from guard.decisions.service import decide
from guard.policy.ruleset import load_directory
from guard.storage.bulk import EVENT_COLUMNS, insert_rows
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from guard.storage.sql import Sql

CHUNK = 10_000


def _row(customer: str, event_id: str, type_: str, minutes: int, **data: Any) -> dict[str, Any]:
    at = START - timedelta(days=400) + timedelta(minutes=minutes)
    return {"event_id": event_id, "customer_id": customer, "type": type_, "occurred_at": at,
            "data": json.dumps(data), "content_hash": "0" * 64, "received_at": at}


def _fill(db: Database, customer: str, noise: int) -> None:
    rows = [_row(customer, f"{customer}-consent", "consent.withdrawn", 0, channel="sms"),
            _row(customer, f"{customer}-complaint", "complaint.opened", 1, case_id="K1")]
    rows += [_row(customer, f"{customer}-{i}", "newsletter.clicked", 2 + i, link="https://example.com/x")
             for i in range(noise)]
    for first in range(0, len(rows), CHUNK):
        with db.transaction() as session:
            insert_rows(Sql.of_session(session), "events", EVENT_COLUMNS, rows[first:first + CHUNK])


def _median_ms(db: Database, evaluator: Any, customer: str, count: int) -> float:
    times = []
    for n in range(count):
        body = {"customer_id": customer, "channel": "email", "purpose": "marketing",
                "send_at": (START + timedelta(minutes=n)).isoformat()}
        started = time.perf_counter()
        decide(db, evaluator, body)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    """Fill, decide, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=50)
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        upgrade(url)
        db = Database(url)
        evaluator = load_directory(ROOT / "rules")
        try:
            _fill(db, "long", args.events)
            _fill(db, "short", 0)
            long_ms = _median_ms(db, evaluator, "long", args.decisions)
            short_ms = _median_ms(db, evaluator, "short", args.decisions)
            print(f"{args.db}: median per decision, {args.events} irrelevant events: {long_ms:.1f} ms; "
                  f"none: {short_ms:.1f} ms")
        finally:
            evaluator.close()
            db.dispose()


if __name__ == "__main__":
    main()
