"""Benchmark: decisions in process on PostgreSQL, source trees side by side, rounds alternated in one run.

No HTTP, no gunicorn: one long-lived process per tree (its own fresh database, same situations) decides on
command, so the figures are the decision path itself: per single decision (one thread, one at a time) the
elapsed time, this process's CPU and PostgreSQL's own CPU (its backends, from /proc); per batch decision
(message + 10,000 customer ids through decide_batch) the same. Medians over the rounds, spread (min-max).

Run by hand:  .venv/bin/python -m bench.pg_inprocess before=/tmp/guard-before after=.   [--rounds 7]
(a tree can be made with `git archive COMMIT | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CUSTOMERS = 100_000
SINGLES = 400
BATCH = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("trees", nargs="+", help="NAME=DIRECTORY")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    here = Path(__file__).resolve()
    workers = {}
    for spec in args.trees:
        name, tree = spec.split("=", 1)
        workers[name] = subprocess.Popen([sys.executable, str(here), "--serve", str(Path(tree).resolve())],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert json.loads(workers[name].stdout.readline())["ready"]  # type: ignore[union-attr]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in workers}
    try:
        for number in range(-1, args.rounds):  # round -1 warms up (pools, prepared statements, caches)
            for name, proc in workers.items():
                proc.stdin.write(json.dumps({"round": number}) + "\n")  # type: ignore[union-attr]
                answer = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
                if number >= 0:
                    results[name].append(answer)
    finally:
        for proc in workers.values():
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(120)
    print(f"PostgreSQL in process, {args.rounds} alternated rounds, median (min-max); us per decision")
    for name, rounds in results.items():
        print(f"{name}:")
        for measure in rounds[0]:
            values = [r[measure] for r in rounds]
            print(f"  {measure}: {statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})")


def serve(tree: Path) -> None:
    """The measuring side: guard imported from `tree`, commands read from stdin."""
    sys.path.insert(0, str(tree))
    from bench.common import fresh_database, production_guard, situation_events
    from guard.decisions.service import decide, decide_batch
    from guard.situation.events import ingest_batch

    # This tree's CPU counter, whatever the measured tree's bench/ holds.
    spec = importlib.util.spec_from_file_location("pgcpu", Path(__file__).resolve().parent / "pgcpu.py")
    assert spec is not None and spec.loader is not None
    pgcpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgcpu)
    backend_pids, cpu_seconds = pgcpu.backend_pids, pgcpu.cpu_seconds

    with fresh_database("postgres") as url:
        guard = production_guard(url)
        events = situation_events(CUSTOMERS, 0.10)
        for start in range(0, len(events), 5000):
            ingest_batch(guard.db, events[start:start + 5000])
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            number = json.loads(line)["round"]
            base = (number + 1) * SINGLES

            def singles(b: int = base) -> int:
                for n in range(SINGLES):
                    decide(guard.db, guard.evaluator, {
                        "customer_id": f"cust-{(b + n) * 7919 % CUSTOMERS}", "channel": "email",
                        "purpose": "marketing", "campaign_id": "spring", "product_ids": ["P3"],
                        "send_at": "2026-03-15T10:00:00Z", "idempotency_key": f"k-{b + n}"})
                return SINGLES

            def batch(b: int = number + 1) -> int:
                raws = [{"customer_id": f"cust-{(b * BATCH + n) % CUSTOMERS}", "channel": "sms",
                         "purpose": "marketing", "campaign_id": "autumn", "send_at": "2026-03-17T10:00:00Z"}
                        for n in range(BATCH)]
                decide_batch(guard.db, guard.evaluator, raws)
                return BATCH

            out: dict[str, float] = {}
            for kind, run in (("single", singles), ("batch", batch)):
                out.update({f"{kind}_{k}": v for k, v in _measure(url, run, backend_pids, cpu_seconds).items()})
            print(json.dumps(out), flush=True)
        guard.db.dispose()


def _measure(url: str, run: Any, backend_pids: Any, cpu_seconds: Any) -> dict[str, float]:
    pids = backend_pids(url)
    database = cpu_seconds(pids)
    own, wall = time.process_time(), time.perf_counter()
    count = run()
    own, wall = time.process_time() - own, time.perf_counter() - wall
    started = [pid for pid in backend_pids(url) if pid not in pids]
    database = cpu_seconds(pids) - database + cpu_seconds(started)
    return {"elapsed_us": wall / count * 1e6, "cpu_us": own / count * 1e6, "db_cpu_us": database / count * 1e6}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        os.environ.setdefault("GUARD_LOG_LEVEL", "WARNING")
        serve(Path(sys.argv[2]))
    else:
        main()
