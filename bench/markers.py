"""What suppression markers cost the decision path: the one extra query `history.events_of` makes.

Every situation now includes the markers left by erasing its customer, found by the customer's digest. This
times `markers_of` against the whole `events_of` it is part of, on a fresh migrated database with 20,000
customers (10% with events, as the suite), first without any marker (a chunk then only asks whether there
is any), then with 2,000: campaign chunks (`CHUNK` customers per call) and single customers (one call per
decision).

Run by hand:  .venv/bin/python -m bench.markers --db sqlite|postgres
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.common import fresh_database, ingest_situations, production_guard
from guard.decisions.campaign import CHUNK
from guard.ledger.digests import customer_digest
from guard.situation import history
from guard.situation.derive import STATE_TYPES
from guard.storage.tables.situation import Suppression

CUSTOMERS = 20_000
MARKERS = 2_000
SINGLES = 2_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        guard = production_guard(url)
        ingest_situations(guard, CUSTOMERS, 0.1)
        customers = [f"cust-{n}" for n in range(CUSTOMERS)]
        _report(guard, args.db, customers, "no markers")
        since = datetime(2026, 1, 1, tzinfo=UTC)
        with guard.db.transaction() as session:
            session.add_all(Suppression(customer_digest=customer_digest(f"cust-{n * 10 + 1}"), channel="email",
                                        purpose="marketing", since=since, erasure_id=1) for n in range(MARKERS))
        _report(guard, args.db, customers, f"{MARKERS} markers")


def _report(guard, db: str, customers: list[str], label: str) -> None:  # type: ignore[no-untyped-def]
    until = datetime(2026, 6, 1, tzinfo=UTC)
    for kind, size in (("chunk", CHUNK), ("single", 1)):
        calls = [customers[i:i + size] for i in range(0, CUSTOMERS if size > 1 else SINGLES, size)]
        with guard.db.raw_reads() as sql:
            whole = _time(lambda c, sql=sql: history.events_of(sql, c, until, sorted(STATE_TYPES)), calls)
            markers = _time(lambda c, sql=sql: history.markers_of(sql, c), calls)
        per = sum(len(c) for c in calls)
        print(f"{db} {label:11} {kind:6} events_of {whole / per * 1e6:8.1f} us/customer, of which markers_of "
              f"{markers / per * 1e6:7.1f} us ({markers / whole:.0%})")


def _time(call, calls) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for chunk in calls:
            call(chunk)
        best = min(best, time.perf_counter() - started)
    return best


if __name__ == "__main__":
    main()
