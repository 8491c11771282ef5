"""Issue 16, decision 1: one chained audit record per decision (before) against one per committed group (now).

In process, on a fresh migrated database with the starter rules: alternated rounds A (per decision) and
B (per group) of
  - single: SINGLES decisions through `decide` from THREADS threads at once (group commit shares
    transactions, as a worker's request threads do),
  - batch: BATCHES calls of `decide_batch` with BATCH customers each.
and, without the database, the CPU the audit part of the writer spends per decision (min of alternated
rounds: A = one keyed link each; B = one keyed leaf each, the Merkle root, one link per group of BATCH).
Both forms are written by the same writer (guard.decisions.record.PER_DECISION_RECORDS switches it, for this
benchmark only) and both verify. Prints decisions/s per round, the medians, the spread (min-max) and audit
rows per 1,000 decisions.

Run by hand:  .venv/bin/python -m bench.audit_groups --db sqlite|postgres [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from itertools import count

from sqlalchemy import func, select

from bench.common import fresh_database, production_guard
from guard.app import Guard
from guard.audit.verify import verify
from guard.decisions import record
from guard.decisions.service import decide, decide_batch
from guard.ledger import merkle
from guard.ledger.digests import leaf_digest, link_hash_at, sha
from guard.storage.tables.audit import AuditRecord

SINGLES = 1_200
THREADS = 8
BATCHES = 4
BATCH = 2_000
MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
_names = count()


def _singles(guard: Guard) -> int:
    per_thread = SINGLES // THREADS

    def run() -> None:
        for _ in range(per_thread):
            decide(guard.db, guard.evaluator, {**MESSAGE, "customer_id": f"s-{next(_names)}"})

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_thread * THREADS


def _batches(guard: Guard) -> int:
    for _ in range(BATCHES):
        decide_batch(guard.db, guard.evaluator, [{**MESSAGE, "customer_id": f"b-{next(_names)}"}
                                                 for _ in range(BATCH)])
    return BATCHES * BATCH


def _rate(guard: Guard, work: Callable[[Guard], int], per_decision: bool) -> tuple[float, float]:
    """Decisions/s of one round, and the audit rows it wrote per 1,000 decisions."""
    record.PER_DECISION_RECORDS = per_decision
    try:
        with guard.db.sessions() as session:
            before = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
        started = time.perf_counter()
        done = work(guard)
        elapsed = time.perf_counter() - started
        with guard.db.sessions() as session:
            rows = (session.scalar(select(func.count()).select_from(AuditRecord)) or 0) - before
        return done / elapsed, rows * 1000 / done
    finally:
        record.PER_DECISION_RECORDS = False


def _cpu_per_decision(per_decision: bool, digests: list[str]) -> float:
    """Microseconds of audit hashing per decision for one group of `digests`."""
    started = time.perf_counter()
    if per_decision:
        prev = "0" * 64
        for seq, digest in enumerate(digests):
            prev = link_hash_at(prev, seq, "decision", digest[:36], "2026-03-10T12:00:00Z", digest)
    else:
        root = merkle.root([leaf_digest(7, i, digest) for i, digest in enumerate(digests)])
        link_hash_at("0" * 64, 1, "decisions", "7", "2026-03-10T12:00:00Z", root)
    return (time.perf_counter() - started) / len(digests) * 1e6


def _cpu(rounds: int) -> None:
    for size in (1, 8, BATCH):
        digests = [sha(str(n)) for n in range(size)]
        spent: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(rounds * 4):
            for per_decision in ((True, False) if round_ % 2 == 0 else (False, True)):
                spent[per_decision].append(min(_cpu_per_decision(per_decision, digests) for _ in range(20)))
        a, b = statistics.median(spent[True]), statistics.median(spent[False])
        print(f"cpu group of {size:5}: A per-decision {a:.2f} us/decision (spread {min(spent[True]):.2f}-"
              f"{max(spent[True]):.2f}), B per-group {b:.2f} us/decision (spread {min(spent[False]):.2f}-"
              f"{max(spent[False]):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _cpu(args.rounds)
    with fresh_database(args.db) as url:
        guard = production_guard(url)
        _rate(guard, _singles, False)  # warm: rules compiled, caches filled
        for label, work in (("single", _singles), ("batch", _batches)):
            rates: dict[bool, list[float]] = {True: [], False: []}
            rows: dict[bool, float] = {}
            for round_ in range(args.rounds):
                for per_decision in ((True, False) if round_ % 2 == 0 else (False, True)):
                    rate, rows[per_decision] = _rate(guard, work, per_decision)
                    rates[per_decision].append(rate)
                    print(f"{args.db} {label:6} round {round_} {'per-decision' if per_decision else 'per-group':12} "
                          f"{rate:9.0f}/s  {rows[per_decision]:7.1f} audit rows/1000", flush=True)
            for per_decision in (True, False):
                r = rates[per_decision]
                print(f"{args.db} {label:6} {'A per-decision' if per_decision else 'B per-group':14} median "
                      f"{statistics.median(r):9.0f}/s  spread {min(r):.0f}-{max(r):.0f}  "
                      f"audit rows/1000 {rows[per_decision]:.1f}")
            print(f"{args.db} {label:6} B/A {statistics.median(rates[False]) / statistics.median(rates[True]):.2f}x")
        with guard.db.sessions() as session:
            started = time.perf_counter()
            report = verify(session)
            print(f"{args.db} verify ok={report.ok} records={report.records} in {time.perf_counter() - started:.1f} s")
        guard.db.dispose()


if __name__ == "__main__":
    main()
