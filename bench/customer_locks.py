"""PostgreSQL's per-customer locks: one advisory lock per customer (before) against one per hash bucket (now).

In process, on a fresh migrated database with the starter rules: alternated rounds A (one lock per customer,
the statement Guard used before, put back in place of `lock_customers_as_asked` for this benchmark only) and
B (LOCK_BUCKETS buckets, guard.situation.history as it is) of
  - single: SINGLES decisions through `decide` from THREADS threads at once (throughput, p50/p99 latency),
  - beside: the same while another thread decides stream chunks of CHUNK customers back to back, so single
    decisions meet the chunks' locks (false sharing: with buckets, an unrelated customer's bucket is often
    held by the chunk),
  - batch: BATCHES calls of `decide_batch` with CHUNK customers each (B takes fewer locks).
Prints each round, the medians and the spread (min-max), and the load average before and after.

A takes one lock per customer of a chunk: point it at a private cluster (GUARD_BENCH_POSTGRES), not at a
server other people use, whose shared lock table A's big transactions would crowd.

Run by hand:  GUARD_BENCH_POSTGRES=postgresql+psycopg://... .venv/bin/python -m bench.customer_locks [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from itertools import count

from bench.common import fresh_database, production_guard
from guard.app import Guard
from guard.decisions.campaign import CHUNK
from guard.decisions import service
from guard.decisions.service import decide, decide_batch
from guard.situation.history import lock_customers_as_asked
from guard.storage.sql import Sql

SINGLES = 400
THREADS = 4
BATCHES = 4
MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
_names = count()


def _per_customer(sql: Sql, asked: Sequence[str]) -> None:
    """A: the statement before buckets, one lock per distinct hashtext of a name or its customer id."""
    sql.run("SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext(c) AS k FROM "
            "(SELECT unnest(CAST(? AS text[])) AS c UNION "
            "SELECT customer_id FROM customer_aliases WHERE alias = ANY(?)) n) s ORDER BY k",
            (sorted(asked), sorted(asked)))


def _singles(guard: Guard) -> tuple[int, list[float]]:
    per_thread = SINGLES // THREADS
    latencies: list[float] = []

    def run() -> None:
        for _ in range(per_thread):
            started = time.perf_counter()
            decide(guard.db, guard.evaluator, {**MESSAGE, "customer_id": f"s-{next(_names)}"})
            latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_thread * THREADS, latencies


def _chunk(guard: Guard) -> None:
    decide_batch(guard.db, guard.evaluator, [{**MESSAGE, "customer_id": f"b-{next(_names)}"} for _ in range(CHUNK)])


def _beside(guard: Guard) -> tuple[int, list[float]]:
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            _chunk(guard)

    streaming = threading.Thread(target=stream)
    streaming.start()
    try:
        return _singles(guard)
    finally:
        stop.set()
        streaming.join()


def _batches(guard: Guard) -> tuple[int, list[float]]:
    for _ in range(BATCHES):
        _chunk(guard)
    return BATCHES * CHUNK, []


def _round(guard: Guard, work: Callable[[Guard], tuple[int, list[float]]], per_customer: bool
           ) -> tuple[float, float, float]:
    """Decisions/s of one round, and its p50 and p99 latency in ms (0 when it measures none)."""
    service.lock_customers_as_asked = _per_customer if per_customer else lock_customers_as_asked  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        done, latencies = work(guard)
        elapsed = time.perf_counter() - started
    finally:
        service.lock_customers_as_asked = lock_customers_as_asked
    if not latencies:
        return done / elapsed, 0.0, 0.0
    cuts = statistics.quantiles(latencies, n=100)
    return done / elapsed, cuts[49] * 1000, cuts[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with fresh_database("postgres") as url:
        guard = production_guard(url)
        _round(guard, _batches, False)  # warm: rules compiled, caches filled, statements prepared
        for label, work in (("single", _singles), ("beside", _beside), ("batch", _batches)):
            figures: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
            for round_ in range(args.rounds):
                for per_customer in ((True, False) if round_ % 2 == 0 else (False, True)):
                    rate, p50, p99 = _round(guard, work, per_customer)
                    figures[per_customer].append((rate, p50, p99))
                    print(f"{label:6} round {round_} {'A per-customer' if per_customer else 'B buckets':14} "
                          f"{rate:8.0f}/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms", flush=True)
            for per_customer in (True, False):
                name = "A per-customer" if per_customer else "B buckets"
                columns = list(zip(*figures[per_customer], strict=True))
                print(f"{label:6} {name:14} " + "  ".join(
                    f"{what} median {statistics.median(c):.1f} ({min(c):.1f}-{max(c):.1f})"
                    for what, c in zip(("rate/s", "p50 ms", "p99 ms"), columns, strict=True)), flush=True)
        guard.db.dispose()
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
