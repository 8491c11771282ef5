"""Benchmark: exporting 1,000,000 decisions through GET /v1/decisions/export in bounded memory.

Run by hand:  .venv/bin/python -m bench.export [--db sqlite|postgres] [--decisions 1000000] [--tracemalloc]

The decisions are bulk-inserted straight into the audit tables (through guard.storage.bulk.insert_rows, as the
decide use case writes them), then each format is exported by a fresh child process that serves the real
endpoint (Flask app, streamed response) and reports its time, its peak RSS before and after the export and,
with --tracemalloc, the peak of Python allocations during it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import timedelta
from typing import Any

from bench.common import START, fresh_database
from guard.auth.keys import create_key
from guard.core.config import Settings
from guard.storage.bulk import DECISION_COLUMNS, REASON_COLUMNS, insert_rows
from guard.storage.database import Database
from guard.storage.migrations import upgrade

CHUNK = 10_000
OUTCOMES = (("allow", None, None), ("block", "just-bought", "The customer bought P7 on 2026-01-03 (order O-1)."),
            ("reroute", "care-first", "Complaint K-1 has been open for 4 days: the care team gets in touch."),
            ("defer", "quiet-hours", "It is 22:30 for the customer (Europe/Paris): the sms waits until 08:00."))
FACTS = json.dumps({"fields": {"channel": "email", "purpose": "marketing", "product_ids": ["P7"], "consent": "unknown",
                               "timezone": "UTC", "local_minutes": 600, "local_weekday": "tue"},
                    "history": [{"source": "open_case", "kind": "complaint", "within_seconds": None, "count": 0,
                                 "times": []}],
                    "local_time": "2026-01-06T10:00:00+00:00"}, separators=(",", ":"))


def generate(db: Database, count: int) -> float:
    """Insert `count` decisions (and a reason for each non-allow one); the seconds it took."""
    started = time.perf_counter()
    for first in range(1, count + 1, CHUNK):
        decisions, reasons = [], []
        for pk in range(first, min(first + CHUNK, count + 1)):
            decisions.append(_decision(pk))
            outcome, rule, explanation = OUTCOMES[pk % len(OUTCOMES)]
            if rule:
                reasons.append({"decision_pk": pk, "position": 0, "rule_id": rule, "outcome": outcome,
                                "explanation": explanation})
        with db.raw_transaction() as sql:
            insert_rows(sql, "decisions", DECISION_COLUMNS, decisions)
            insert_rows(sql, "decision_reasons", REASON_COLUMNS, reasons)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:  # ids were given explicitly: move the sequence past them
            conn.exec_driver_sql("SELECT setval('decisions_id_seq', (SELECT max(id) FROM decisions))")
    return time.perf_counter() - started


def _decision(pk: int) -> dict[str, Any]:
    outcome, _, _ = OUTCOMES[pk % len(OUTCOMES)]
    at = START + timedelta(seconds=pk * 5)
    customer = f"cust-{pk % 50_000}"
    request = {"customer_id": customer, "channel": "email", "purpose": "marketing", "campaign_id": f"camp-{pk % 7}",
               "product_ids": ["P7"], "send_at": at.isoformat()}
    return {
        "id": pk, "decision_id": str(uuid.UUID(int=pk)), "customer_id": customer, "campaign_id": f"camp-{pk % 7}",
        "channel": "email", "purpose": "marketing", "send_at": at, "outcome": outcome,
        "route": "care" if outcome == "reroute" else None,
        "defer_until": at + timedelta(hours=9) if outcome == "defer" else None, "rules_version": "1",
        "evaluated_at": at, "idempotency_key": None, "request_hash": "-",
        "request": json.dumps(request, separators=(",", ":")), "facts": FACTS, "api_key_name": "bench",
        "idempotency_scope": 0, "audit_group": None, "audit_leaf": None, "audit_digest": None,
    }


def measure(url: str, fmt: str, token: str, trace: bool) -> dict[str, Any]:
    """In this (child) process: serve one export through the app and report its cost."""
    from guard.web.factory import create_app

    app = create_app(settings=Settings(database_url=url, secret_key="bench", log_level="WARNING"))
    client = app.test_client()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    response = client.get(f"/v1/decisions/export?format={fmt}", headers={"Authorization": f"Bearer {token}"},
                          buffered=False)
    size = lines = 0
    for chunk in response.response:
        data = chunk if isinstance(chunk, bytes) else chunk.encode()
        size += len(data)
        lines += data.count(b"\n")
    response.close()
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    return {"format": fmt, "status": response.status_code, "bytes": size, "lines": lines, "seconds": seconds,
            "rss_before_mb": before, "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "traced_peak_mb": traced}


def _child(url: str, fmt: str, token: str, trace: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.export", "--measure", url, "--format", fmt]
    if trace:
        command.append("--tracemalloc")
    out = subprocess.run(command, env={**os.environ, "GUARD_BENCH_TOKEN": token}, check=True, capture_output=True,
                         text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.format, os.environ["GUARD_BENCH_TOKEN"], args.tracemalloc)))
        return
    with fresh_database(args.db) as url:
        upgrade(url)
        db = Database(url)
        with db.transaction() as session:
            _, token = create_key(session, "bench", ["read"])
        inserted = generate(db, args.decisions)
        db.dispose()
        print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, db={args.db}")
        print(f"generated {args.decisions:,} decisions in {inserted:.1f}s")
        for fmt in ("csv", "ndjson"):
            r = _child(url, fmt, token, args.tracemalloc)
            traced = f", Python allocations peak {r['traced_peak_mb']:.1f} MB" if r["traced_peak_mb"] else ""
            print(f"export {fmt}: {r['lines']:,} lines, {r['bytes'] / 2**20:,.0f} MB in {r['seconds']:.1f}s "
                  f"({r['lines'] / r['seconds']:,.0f} rows/s); peak RSS {r['rss_peak_mb']:.0f} MB "
                  f"(app loaded: {r['rss_before_mb']:.0f} MB){traced}")


if __name__ == "__main__":
    main()
