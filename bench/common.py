"""Shared helpers for the benchmarks: a fresh migrated database and generated, reproducible data."""

from __future__ import annotations

import os
import random
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url

from guard.app import Guard
from guard.core.config import Settings
from guard.lifecycle.active import ActiveRules
from guard.situation.events import ingest_batch
from guard.storage.database import Database
from guard.storage.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=UTC)


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A new empty database: `sqlite` (a temp file) or `postgres` (a new database on the local server)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    server = os.environ.get("GUARD_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    name = f"guard_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def production_guard(url: str) -> Guard:
    """A migrated database with the starter rules seeded and active, as `guard serve` prepares it."""
    upgrade(url)
    db = Database(url)
    guard = Guard(Settings(database_url=url, rules_dir=str(ROOT / "rules")), db=db, rules=ActiveRules(db))
    guard.seed_rules()
    return guard


def ingest_situations(guard: Guard, customers: int, share: float) -> None:
    """Store `situation_events` for the customers, in batches as `guard events import` does."""
    events = situation_events(customers, share)
    for start in range(0, len(events), 5000):
        ingest_batch(guard.db, events[start:start + 5000])


def situation_events(customers: int, share: float, seed: int = 7) -> list[dict[str, Any]]:
    """Events for `share` of the customers: complaints, refunds, purchases, consent and profiles."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(customers):
        if rng.random() >= share:
            continue
        cid = f"cust-{n}"
        at = START + timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86399))
        kind = rng.choice(["complaint", "refund", "purchase", "consent", "profile"])
        events.extend(_events_for(cid, kind, at, rng))
    return events


def _events_for(cid: str, kind: str, at: datetime, rng: random.Random) -> list[dict[str, Any]]:
    def ev(type_: str, when: datetime, **data: Any) -> dict[str, Any]:
        return {"event_id": f"{cid}-{type_}-{when.timestamp()}", "customer_id": cid, "type": type_,
                "occurred_at": when.isoformat(), "data": data}

    if kind == "complaint":
        out = [ev("complaint.opened", at, case_id=f"K-{cid}")]
        if rng.random() < 0.5:
            out.append(ev("complaint.resolved", at + timedelta(days=rng.randint(1, 20)), case_id=f"K-{cid}"))
        return out
    if kind == "refund":
        return [ev("refund.requested", at, refund_id=f"R-{cid}")]
    if kind == "purchase":
        return [ev("purchase.completed", at, order_id=f"O-{cid}", product_ids=[f"P{rng.randint(1, 20)}"])]
    if kind == "consent":
        return [ev("consent.withdrawn", at, channel=rng.choice(["email", "sms"]))]
    return [ev("profile.updated", at, customer_since="2019-05-01", timezone="Europe/Paris")]


def decision_requests(count: int, customers: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """Planned sends spread over the same period, mostly marketing."""
    rng = random.Random(seed)
    for _ in range(count):
        yield {
            "customer_id": f"cust-{rng.randrange(customers)}",
            "channel": rng.choice(["email", "email", "sms", "push"]),
            "purpose": rng.choice(["marketing", "marketing", "marketing", "survey", "transactional"]),
            "campaign_id": rng.choice(["spring", "summer", "nps"]),
            "product_ids": [f"P{rng.randint(1, 20)}"],
            "send_at": (START + timedelta(days=rng.randint(0, 70), seconds=rng.randint(0, 86399))).isoformat(),
        }
