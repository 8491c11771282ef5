"""Streams and batches with and without helper processes, as an alternated A/B in one run (issue 16, decision 4).

Two `guard serve` (2 workers each) on two fresh databases holding the same situations (events of 10% of the
customers, as bench/suite.py ingests them): A decides alone (GUARD_STREAM_PROCESSES=1, the default), B
spreads each stream or batch over the worker and its helpers (--processes; 0: one process per core). Each
round runs suite.py's batch row (message + 10,000 ids, 10 calls) and stream row (N recipients) on A then B,
or B then A (the order alternates), with a send time moved by 8 days per round so no round sees another's
decisions in its frequency-cap window. Reported: each round's figures (the CPU of the workers and helpers
for the batches and for the stream apart), the medians, the peak memory of the workers and of the
helpers, and the load average (others' work included) before and after.

    .venv/bin/python -m bench.streams_ab --db sqlite --recipients 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from bench import suite
from bench.common import ROOT, fresh_database
from bench.suite import GUARD, free_port, ingest, process, workers_of

DAY0 = datetime(2026, 3, 16, 10, tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def stream(base: str, key: str, recipients: int, send_at: datetime) -> float:
    """suite.py's stream row at `send_at`: seconds for the whole campaign in and every result out."""
    count, seconds = suite.stream(base, key, recipients, _iso(send_at))
    assert count == recipients, count
    return seconds


def batch(base: str, key: str, send_at: datetime, calls: int = 10) -> float:
    """suite.py's batch row at `send_at`: decisions per second over `calls` calls of 10,000 ids."""
    message = {"channel": "sms", "purpose": "marketing", "campaign_id": "autumn", "send_at": _iso(send_at)}
    started = time.perf_counter()
    with requests.Session() as s:
        for call in range(calls):
            ids = [f"cust-{n}" for n in range(call * 10_000, (call + 1) * 10_000)]
            r = s.post(f"{base}/v1/decisions/batch", json={"message": message, "customer_ids": ids},
                       headers={"Authorization": f"Bearer {key}"}, timeout=300)
            r.raise_for_status()
    return calls * 10_000 / (time.perf_counter() - started)


def family(master: int) -> tuple[list[int], list[int]]:
    """A gunicorn master's workers, and their children (the helpers)."""
    workers = workers_of(master)
    helpers = []
    for worker in workers:
        for children in Path(f"/proc/{worker}/task").glob("*/children"):
            helpers += [int(p) for p in children.read_text().split()
                        if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    return workers, helpers


def peak_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        peak = max(peak, int(found.group(1)) / 1024 if found else 0.0)
    return peak


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def serve(stack: ExitStack, db_kind: str, processes: int) -> tuple[str, str, int]:
    """A fresh database with the suite's situations and a server on it: (base URL, key, master pid)."""
    url = stack.enter_context(fresh_database(db_kind))
    env = {**os.environ, "GUARD_DATABASE_URL": url, "GUARD_RULES_DIR": str(ROOT / "rules"),
           "GUARD_LOG_LEVEL": "WARNING", "GUARD_STREAM_PROCESSES": str(processes)}
    key = subprocess.run([*GUARD, "keys", "create", "--name", "bench", "--scope", "admin"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"streams_ab-{db_kind}-{processes}-{port}.log"
    server = stack.enter_context(process([*GUARD, "serve", "--port", str(port), "--workers", "2"], env,
                                         base + "/healthz", log=log))
    print(f"server GUARD_STREAM_PROCESSES={processes}: log in {log}", flush=True)
    ingest(base, key)
    return base, key, server.pid


def measure(base: str, key: str, master: int, recipients: int, send_at: datetime) -> dict[str, float]:
    def used() -> float:
        # Helpers started during the round count from zero: their CPU is all this round's.
        workers, helpers = family(master)
        return cpu_seconds(workers) + cpu_seconds(helpers)

    before = used()
    rate = batch(base, key, send_at + timedelta(days=1))
    between = used()
    seconds = stream(base, key, recipients, send_at)
    after = used()
    return {"batch_per_s": rate, "stream_s": seconds, "batch_cpu_s": between - before, "stream_cpu_s": after - between}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=0, help="B's GUARD_STREAM_PROCESSES (0: one per core)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    with ExitStack() as stack:
        servers = {"A alone": serve(stack, args.db, 1), "B helpers": serve(stack, args.db, args.processes)}
        for base, key, master in servers.values():  # warm: helpers started, rules compiled
            measure(base, key, master, 20_000, DAY0 + timedelta(days=300))
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for n in range(args.rounds):
            order = list(servers) if n % 2 == 0 else list(reversed(servers))
            for name in order:
                base, key, master = servers[name]
                result = measure(base, key, master, args.recipients, DAY0 + timedelta(days=8 * n))
                rounds[name].append(result)
                print(f"round {n + 1} {name}: {json.dumps({k: round(v, 1) for k, v in result.items()})}",
                      flush=True)
        print(f"load average after: {os.getloadavg()}")
        print(f"\n### {args.db}: {args.recipients:,} recipients, {args.rounds} alternated rounds, "
              f"{os.cpu_count()} cores, 2 workers each")
        print("| server | stream s (median; rounds) | stream CPU s (workers + helpers; median; rounds) "
              "| batch decisions/s (median; rounds) | batch CPU s (median) | worker peak MB | helper peak MB |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, results in rounds.items():
            workers, helpers = family(servers[name][2])
            streams = [r["stream_s"] for r in results]
            batches = [r["batch_per_s"] for r in results]
            cpus = [r["stream_cpu_s"] for r in results]
            print(f"| {name} | {statistics.median(streams):.1f} ({', '.join(f'{x:.1f}' for x in streams)}) "
                  f"| {statistics.median(cpus):.1f} ({', '.join(f'{x:.1f}' for x in cpus)}) "
                  f"| {statistics.median(batches):,.0f} ({', '.join(f'{x:,.0f}' for x in batches)}) "
                  f"| {statistics.median(r['batch_cpu_s'] for r in results):.1f} "
                  f"| {peak_mb(workers):.0f} | {peak_mb(helpers):.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
