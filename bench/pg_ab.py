"""Benchmark: two (or more) source trees of Guard side by side on PostgreSQL, rounds alternated in one run.

Each tree serves its own fresh database with `guard serve` (2 workers) and the same situations; every
round measures, tree after tree, single decisions over HTTP (wrk, 8 connections, 5 s) and one batch
(message + 10,000 customer ids). Per decision it counts the workers' CPU (from /proc) and PostgreSQL's own
CPU (its backends for that database, from /proc) apart: production runs the database on another machine.
Medians over the rounds and the spread (min-max) are printed.

Run by hand:  .venv/bin/python -m bench.pg_ab before=/tmp/guard-before after=.   [--rounds 5]
(a tree can be made with `git archive COMMIT | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

from bench.common import fresh_database, situation_events
from bench.pgcpu import backend_pids, cpu_seconds
from bench.suite import free_port, process, worker_cpu_seconds, wrk

CUSTOMERS = 100_000
BATCH = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("trees", nargs="+", help="NAME=DIRECTORY")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.trees)
    with ExitStack() as stack:
        served = {name: _serve(stack, Path(tree).resolve()) for name, tree in trees.items()}
        for base, key, _pid, _url in served.values():  # warm up: pools, prepared statements, caches
            wrk(base, key, 3)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in served}
        for number in range(args.rounds):
            for name, (base, key, pid, url) in served.items():
                single = _measured(url, pid, lambda b=base, k=key: _single(b, k, args.seconds))
                batch = _measured(url, pid, lambda b=base, k=key, n=number: _batch(b, k, n))
                rounds[name].append({**{f"single_{k}": v for k, v in single.items()},
                                     **{f"batch_{k}": v for k, v in batch.items()}})
    print(f"PostgreSQL, 2 workers, {args.rounds} alternated rounds; median (min-max)")
    for name, results in rounds.items():
        print(f"{name}:")
        for measure in results[0]:
            values = [r[measure] for r in results]
            print(f"  {measure}: {statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})")


def _serve(stack: ExitStack, tree: Path) -> tuple[str, str, int, str]:
    url = stack.enter_context(fresh_database("postgres"))
    env = {**os.environ, "PYTHONPATH": str(tree), "GUARD_DATABASE_URL": url,
           "GUARD_RULES_DIR": str(tree / "rules"), "GUARD_LOG_LEVEL": "WARNING"}
    guard = [sys.executable, "-m", "guard.cli"]
    key = subprocess.run([*guard, "keys", "create", "--name", "bench", "--scope", "admin"], env=env, cwd=tree,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = stack.enter_context(process([*guard, "serve", "--port", str(port), "--workers", "2"], env,
                                         base + "/healthz"))
    events = situation_events(CUSTOMERS, 0.10)
    with requests.Session() as session:
        for start in range(0, len(events), 1000):
            session.post(f"{base}/v1/events", json={"events": events[start:start + 1000]}, timeout=120,
                         headers={"Authorization": f"Bearer {key}"}).raise_for_status()
    return base, key, server.pid, url


def _measured(url: str, master: int, run: Any) -> dict[str, float]:
    """Run; add the workers' and PostgreSQL's CPU microseconds per decision."""
    pids = backend_pids(url)
    workers, database = worker_cpu_seconds(master), cpu_seconds(pids)
    result = run()
    # Backends that connected meanwhile count from their start; any that left take their time with them.
    started = [pid for pid in backend_pids(url) if pid not in pids]
    worker_used = sum(worker_cpu_seconds(master).values()) - sum(workers.values())
    database_used = cpu_seconds(pids) - database + cpu_seconds(started)
    count = result.pop("decisions")
    return {**result, "worker_cpu_us": worker_used / count * 1e6, "db_cpu_us": database_used / count * 1e6}


def _single(base: str, key: str, seconds: int) -> dict[str, float]:
    out = wrk(base, key, seconds)
    return {"per_s": out["rps"], "p99_ms": out["p99_ms"], "decisions": out["requests"]}


def _batch(base: str, key: str, number: int) -> dict[str, float]:
    message = {"channel": "sms", "purpose": "marketing", "campaign_id": "autumn", "send_at": "2026-03-17T10:00:00Z"}
    ids = [f"cust-{(number * BATCH + n) % CUSTOMERS}" for n in range(BATCH)]
    started = time.perf_counter()
    answer = requests.post(f"{base}/v1/decisions/batch", json={"message": message, "customer_ids": ids},
                           headers={"Authorization": f"Bearer {key}"}, timeout=300)
    answer.raise_for_status()
    assert len(answer.json()["results"]) == BATCH
    return {"per_s": BATCH / (time.perf_counter() - started), "decisions": BATCH}


if __name__ == "__main__":
    main()
