"""Benchmark: several `guard serve` instances on one PostgreSQL database against one instance, same total workers.

One fresh database with the situations of `CUSTOMERS` customers (as bench/suite.py makes them). Every
instance runs the whole time; each round measures, one configuration after the other (the order rotating
per round), single decisions with two `wrk` processes of 4 connections each (bench/decide.lua), aimed at
the configuration's two instances (or both at its one instance), so the clients are the same in every
configuration:

- `one_x2`: one instance with 2 workers;
- `two_x1`: two instances with 1 worker each (same workers, so the same CPU);
- `two_x2`: two instances with 2 workers each (twice the workers on 2 cores).

Per decision it counts the serving workers' CPU and PostgreSQL's own (its backends for this database, from
/proc) apart: production runs the database elsewhere. The idle instances' background loops (activation and
key polls, outbox and holds workers) query the database during every round alike; their share is measured
once, idle, and printed. Then it checks that the instances are one service: the same idempotency keys sent
to both at once give one decision each, a frequency cap holds for decisions sent to both at once, and
`guard audit verify` passes over everything recorded.

Run by hand:  .venv/bin/python -m bench.two_instances [--rounds 5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine

from bench.common import ROOT, fresh_database, situation_events
from bench.pgcpu import backend_pids, cpu_seconds
from bench.suite import free_port, process, worker_cpu_seconds, wrk

CUSTOMERS = 100_000
GUARD = [sys.executable, "-m", "guard.cli"]
CONFIGS = {"one_x2": ("a2", "a2"), "two_x1": ("b1", "c1"), "two_x2": ("d2", "e2")}
SEND_AT = "2026-06-15T12:00:00Z"
CHAIN_LOCK = 0x61756469  # guard/ledger/chain.py's _CHAIN_LOCK (private there): below 2**32, so pg_locks' objid


@dataclass(frozen=True)
class Instance:
    """A running `guard serve`: its base URL and master pid."""

    base: str
    master: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, of " + ", ".join(CONFIGS))
    args = parser.parse_args()
    configs = {name: CONFIGS[name] for name in args.configs.split(",")}
    with ExitStack() as stack:
        url = stack.enter_context(fresh_database("postgres"))
        env = {**os.environ, "GUARD_DATABASE_URL": url, "GUARD_RULES_DIR": str(ROOT / "rules"),
               "GUARD_LOG_LEVEL": "WARNING", "GUARD_AUDIT_KEY": secrets.token_hex(32)}
        key = subprocess.run([*GUARD, "keys", "create", "--name", "bench", "--scope", "admin"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        names = sorted({n for pair in configs.values() for n in pair})
        # One after the other: each start activates the rule files, and the first migrates the database.
        served = {name: _start(stack, env, int(name[1])) for name in names}
        _populate(served[names[0]].base, key)
        idle = _idle_db_cpu(url)
        for pair in configs.values():  # warm up: pools, prepared statements, caches
            _round([served[n] for n in pair], key, url, 3)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
        order = list(configs)
        for number in range(args.rounds):
            for name in order[number % len(order):] + order[:number % len(order)]:
                rounds[name].append(_round([served[n] for n in configs[name]], key, url, args.seconds))
        scans = {"after the rounds": _sequential_scans(url)}
        checks = _one_service([served[n] for n in configs.get("two_x1", ("a2", "a2"))], key)
        checks["decisions stored under those 50 keys"] = str(_stored_under_keys(url))
        verified = subprocess.run([*GUARD, "audit", "verify"], env=env, capture_output=True, text=True)
        scans["after the checks and verify"] = _sequential_scans(url)
    print(f"PostgreSQL, {CUSTOMERS:,} customers, {args.rounds} rounds of {args.seconds} s, configurations in "
          f"rotating order; median (min-max)")
    print(f"idle PostgreSQL CPU with every instance up: {idle * 1000:.1f} ms per second")
    for name, results in rounds.items():
        print(f"{name}:")
        for measure in results[0]:
            values = [r[measure] for r in results]
            print(f"  {measure}: {statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f}) "
                  f"[{', '.join(f'{v:,.0f}' for v in values)}]")
    for check, outcome in checks.items():
        print(f"{check}: {outcome}")
    for when, text in scans.items():
        print(f"sequential scans (rows read) per table, {when}: {text}")
    print(f"guard audit verify: exit {verified.returncode}: {verified.stdout.strip()[-400:]} {verified.stderr[-400:]}")


def _start(stack: ExitStack, env: dict[str, str], workers: int) -> Instance:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = stack.enter_context(process([*GUARD, "serve", "--port", str(port), "--workers", str(workers)], env,
                                       base + "/healthz"))
    return Instance(base, proc.pid)


def _populate(base: str, key: str) -> None:
    events = situation_events(CUSTOMERS, 0.10)
    with requests.Session() as session:
        for start in range(0, len(events), 1000):
            session.post(f"{base}/v1/events", json={"events": events[start:start + 1000]}, timeout=120,
                         headers={"Authorization": f"Bearer {key}"}).raise_for_status()


def _idle_db_cpu(url: str, seconds: float = 10) -> float:
    """PostgreSQL CPU seconds per second while every instance is up and nobody asks anything."""
    pids = backend_pids(url)
    before = cpu_seconds(pids)
    time.sleep(seconds)
    return (cpu_seconds(pids) - before) / seconds


def _round(targets: list[Instance], key: str, url: str, seconds: int) -> dict[str, float]:
    """Two wrk of 4 connections, one per target, at once; throughput, worst p99, CPU per decision."""
    masters = sorted({t.master for t in targets})
    sampler = _LockSampler(url)
    groups = sampler.groups()
    workers_before = {m: worker_cpu_seconds(m) for m in masters}
    pids = [pid for pid in backend_pids(url) if pid != sampler.pid]
    db_before = cpu_seconds(pids)
    sampler.start()
    outs: list[dict[str, float]] = [{} for _ in targets]

    def run(i: int) -> None:
        outs[i] = wrk(targets[i].base, key, seconds, connections=4)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load = float(Path("/proc/loadavg").read_text().split()[0])
    locks = sampler.stop()
    groups = sampler.groups() - groups
    sampler.close()
    started = [pid for pid in backend_pids(url) if pid not in pids and pid != sampler.pid]
    db_used = cpu_seconds(pids) - db_before + cpu_seconds(started)
    worker_used = 0.0
    for master in masters:
        after = worker_cpu_seconds(master)
        # A worker replaced during the round brings its start-up into the count: no figure then.
        worker_used += sum(after.values()) - sum(workers_before[master].values()) \
            if after.keys() == workers_before[master].keys() else float("nan")
    done = sum(o["requests"] for o in outs)
    return {"per_s": sum(o["rps"] for o in outs), "p99_ms": max(o["p99_ms"] for o in outs),
            "non_2xx": sum(o["non_2xx"] for o in outs), "worker_cpu_us": worker_used / done * 1e6,
            "db_cpu_us": db_used / done * 1e6, "load": load,
            "per_group": done / max(groups, 1),
            "new_backends": len(started), **locks}


class _LockSampler:
    """Samples pg_locks 20 times a second from its own connection (its CPU is not counted): how often the
    audit chain's advisory lock is held, how many wait for it, and how many wait for a customer's lock."""

    QUERY = ("SELECT count(*) FILTER (WHERE granted AND objid = ?), count(*) FILTER (WHERE NOT granted AND "
             "objid = ?), count(*) FILTER (WHERE NOT granted AND objid <> ?) FROM pg_locks "
             "WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = "
             "current_database())").replace("?", str(CHAIN_LOCK))

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.conn = self.engine.connect()
        self.pid = int(self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        self.samples: list[tuple[int, int, int]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def groups(self) -> int:
        """How many committed groups of decisions the chain holds (one record each)."""
        count = int(self.conn.exec_driver_sql("SELECT count(*) FROM audit_records WHERE kind = 'decisions'"
                                              ).scalar_one())
        self.conn.rollback()
        return count

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    def _run(self) -> None:
        while not self.done.wait(0.05):
            row = self.conn.exec_driver_sql(self.QUERY).one()
            self.samples.append((int(row[0]), int(row[1]), int(row[2])))
            self.conn.rollback()

    def stop(self) -> dict[str, float]:
        """Share of samples with the chain lock held; mean waiters for it and for customers' locks."""
        self.done.set()
        self.thread.join()
        n = max(len(self.samples), 1)
        return {"chain_held_pct": 100 * sum(s[0] > 0 for s in self.samples) / n,
                "chain_waiters": sum(s[1] for s in self.samples) / n,
                "customer_waiters": sum(s[2] for s in self.samples) / n}


def _sequential_scans(url: str) -> str:
    """The tables PostgreSQL read whole, and how many rows it read so (a plan gone wrong shows here)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT relname, seq_scan, seq_tup_read FROM pg_stat_user_tables "
                                        "WHERE seq_tup_read > 0 ORDER BY seq_tup_read DESC LIMIT 8").all()
    finally:
        engine.dispose()
    return ", ".join(f"{name} {scans:,}x/{read:,}" for name, scans, read in rows)


def _stored_under_keys(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM decisions WHERE left(idempotency_key, 9) = 'idem-key-'").scalar_one())
    finally:
        engine.dispose()


def _one_service(pair: list[Instance], key: str) -> dict[str, str]:
    """Idempotency and a frequency cap hold across the instances, under requests sent to both at once."""
    auth = {"Authorization": f"Bearer {key}"}
    first, second = pair

    def together(calls: list[Callable[[], Any]]) -> list[Any]:
        barrier = threading.Barrier(len(calls))
        out: list[Any] = [None] * len(calls)

        def go(i: int) -> None:
            barrier.wait()
            out[i] = calls[i]()
        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def decide(base: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{base}/v1/decisions", json=body, headers=auth, timeout=30)

    # The same key to both instances at the same moment, 50 times: one decision per key, both answers alike.
    same = 0
    for n in range(50):
        body = {"customer_id": f"idem-{n}", "channel": "email", "purpose": "marketing", "send_at": SEND_AT,
                "idempotency_key": f"idem-key-{n}"}
        a, b = together([partial(decide, first.base, body), partial(decide, second.base, body)])
        same += a.status_code == b.status_code == 200 and a.json()["decision_id"] == b.json()["decision_id"]
    conflict = decide(second.base, {"customer_id": "idem-0", "channel": "sms", "purpose": "marketing",
                                    "send_at": SEND_AT, "idempotency_key": "idem-key-0"})
    # Eight marketing emails for one customer, four to each instance at once: the cap lets exactly three out.
    allowed = []
    for n in range(20):
        body = {"customer_id": f"cap-{n}", "channel": "email", "purpose": "marketing", "send_at": SEND_AT}
        answers = together([partial(decide, base, body) for base in [first.base, second.base] * 4])
        allowed.append(sum(a.json()["outcome"] == "allow" for a in answers))
    return {"idempotency (50 keys, each sent to both instances at once)": f"{same}/50 answered with one decision",
            "same key, other body, on the other instance": f"{conflict.status_code} {conflict.json()['error']['code']}",
            "frequency cap (20 customers x 8 simultaneous, 4 per instance)":
                f"allowed per customer {sorted(set(allowed))} (3 expected)"}


if __name__ == "__main__":
    main()
