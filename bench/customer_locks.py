"""PostgreSQL's per-customer locks, three ways, in alternated rounds:
  A  one advisory lock per customer (the original statement),
  B  one advisory lock per hash bucket of 4,096 (the first bound on the lock table),
  C  one row of customer_lock_buckets per bucket of 2**18, locked FOR UPDATE (guard.situation.history as it is).
A and B are put back in place of `lock_customers_as_asked` for this benchmark only. In process, on a fresh
migrated database with the starter rules:
  - single: SINGLES decisions through `decide` from THREADS threads at once (throughput, p50/p99 latency),
  - beside: the same while another thread decides stream chunks of CHUNK customers back to back, so single
    decisions meet the chunks' locks (false sharing: an unrelated customer's bucket held by the chunk),
  - batch: BATCHES calls of `decide_batch` with CHUNK customers each,
  - statement: the lock statement alone, in a transaction of its own that locks SMALL new names (as a group of
    single decisions does), STATEMENTS times, and once for CHUNK names; microseconds per transaction and
    WAL bytes it wrote (C's row locks are logged, advisory locks are not).
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
from guard.decisions import service
from guard.decisions.campaign import CHUNK
from guard.decisions.service import decide, decide_batch
from guard.situation.history import lock_customers_as_asked
from guard.storage.sql import Sql

SINGLES = 400
THREADS = 4
BATCHES = 4
STATEMENTS = 300
SMALL = 4
MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
_names = count()


def _per_customer(sql: Sql, asked: Sequence[str]) -> None:
    """A: one lock per distinct hashtext of a name or its customer id."""
    sql.run("SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext(c) AS k FROM "
            "(SELECT unnest(CAST(? AS text[])) AS c UNION "
            "SELECT customer_id FROM customer_aliases WHERE alias = ANY(?)) n) s ORDER BY k",
            (sorted(asked), sorted(asked)))


def _advisory_buckets(sql: Sql, asked: Sequence[str]) -> None:
    """B: one lock per bucket of 4,096 (the two-int form), in ascending order."""
    sql.run("SELECT pg_advisory_xact_lock(1668641652, b) FROM (SELECT DISTINCT hashtext(c) & 4095 AS b FROM "
            "(SELECT unnest(CAST(? AS text[])) AS c UNION "
            "SELECT customer_id FROM customer_aliases WHERE alias = ANY(?)) n) s ORDER BY b",
            (sorted(asked), sorted(asked)))


VARIANTS: dict[str, Callable[[Sql, Sequence[str]], None]] = {
    "A per-customer": _per_customer, "B 4096 advisory": _advisory_buckets, "C row buckets": lock_customers_as_asked}


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


def _statement(guard: Guard, lock: Callable[[Sql, Sequence[str]], None], names: int, times: int
               ) -> tuple[float, float]:
    """Microseconds and WAL bytes per transaction that only locks `names` new names."""
    before = _wal(guard)
    started = time.perf_counter()
    for _ in range(times):
        with guard.db.raw_transaction() as sql:
            sql.run("SELECT pg_current_xact_id()")  # every transaction of Guard's that locks also writes
            lock(sql, [f"t-{next(_names)}" for _ in range(names)])
    elapsed = time.perf_counter() - started
    return elapsed / times * 1e6, (_wal(guard) - before) / times


def _wal(guard: Guard) -> int:
    """The server's WAL insert position, in bytes (others' writes on the cluster count too: use a private one)."""
    with guard.db.raw_reads() as sql:
        row = sql.first("SELECT CAST(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0') AS bigint)")
        assert row is not None
        return int(row[0])


def _round(guard: Guard, work: Callable[[Guard], tuple[int, list[float]]], variant: str
           ) -> tuple[float, float, float, float]:
    """Decisions/s of one round, its p50 and p99 latency in ms (0 when it measures none), WAL bytes per decision."""
    service.lock_customers_as_asked = VARIANTS[variant]  # type: ignore[assignment]
    try:
        before = _wal(guard)
        started = time.perf_counter()
        done, latencies = work(guard)
        elapsed = time.perf_counter() - started
        wal = (_wal(guard) - before) / done
    finally:
        service.lock_customers_as_asked = lock_customers_as_asked
    if not latencies:
        return done / elapsed, 0.0, 0.0, wal
    cuts = statistics.quantiles(latencies, n=100)
    return done / elapsed, cuts[49] * 1000, cuts[98] * 1000, wal


def _orders(rounds: int) -> list[list[str]]:
    """Each round's order of the variants, rotated so each goes first, second and third equally often."""
    names = list(VARIANTS)
    return [names[r % 3:] + names[:r % 3] for r in range(rounds)]


def _report(label: str, what: tuple[str, ...], figures: dict[str, list[tuple[float, ...]]]) -> None:
    for variant, rows in figures.items():
        columns = list(zip(*rows, strict=True))
        print(f"{label:9} {variant:15} " + "  ".join(
            f"{name} median {statistics.median(c):.1f} ({min(c):.1f}-{max(c):.1f})"
            for name, c in zip(what, columns, strict=True)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with fresh_database("postgres") as url:
        guard = production_guard(url)
        _round(guard, _batches, "C row buckets")  # warm: rules compiled, caches filled, statements prepared
        for label, work in (("single", _singles), ("beside", _beside), ("batch", _batches)):
            figures: dict[str, list[tuple[float, ...]]] = {v: [] for v in VARIANTS}
            for round_, order in enumerate(_orders(args.rounds)):
                for variant in order:
                    rate, p50, p99, wal = _round(guard, work, variant)
                    figures[variant].append((rate, p50, p99, wal))
                    print(f"{label:9} round {round_} {variant:15} {rate:8.0f}/s  p50 {p50:7.1f} ms  "
                          f"p99 {p99:7.1f} ms  {wal:6.0f} WAL bytes/decision", flush=True)
            _report(label, ("rate/s", "p50 ms", "p99 ms", "WAL bytes/decision"), figures)
        for label, names, times in (("statement", SMALL, STATEMENTS), ("chunk-lock", CHUNK, 3)):
            costs: dict[str, list[tuple[float, ...]]] = {v: [] for v in VARIANTS}
            for round_, order in enumerate(_orders(args.rounds * 2)):
                for variant in order:
                    micros, wal = _statement(guard, VARIANTS[variant], names, times)
                    costs[variant].append((micros, wal))
                    print(f"{label:9} round {round_} {variant:15} {micros:8.0f} us  {wal:8.0f} WAL bytes",
                          flush=True)
            _report(label, ("us/transaction", "WAL bytes"), costs)
        guard.db.dispose()
    print(f"load average after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
