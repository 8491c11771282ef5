"""What SQLite's synchronous=FULL (every acknowledged write synced) costs against NORMAL, on single decisions.

Two `guard serve` instances, one per setting, each on its own fresh SQLite file in one directory, measured
in alternating rounds (this machine drifts by tens of percent from one minute to the next): 8 connections
(group commit shares a sync among concurrent decisions) and 1 connection (one sync per decision).

Run by hand:  .venv/bin/python -m bench.durability [--rounds 4] [--seconds 5]   (needs `wrk`)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from bench.common import ROOT
from bench.suite import GUARD, WORKERS, free_port, process, wrk

SETTINGS = ("FULL", "NORMAL")


def start(stack: ExitStack, directory: Path, synchronous: str) -> tuple[str, str]:
    """A served Guard with GUARD_SQLITE_SYNCHRONOUS=`synchronous`: its base URL and an admin key."""
    env = {**os.environ, "GUARD_DATABASE_URL": f"sqlite:///{directory}/{synchronous.lower()}.db",
           "GUARD_RULES_DIR": str(ROOT / "rules"), "GUARD_LOG_LEVEL": "WARNING",
           "GUARD_SQLITE_SYNCHRONOUS": synchronous}
    key = subprocess.run([*GUARD, "keys", "create", "--name", "bench", "--scope", "admin"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stack.enter_context(process([*GUARD, "serve", "--port", str(port), "--workers", str(WORKERS)], env,
                                base + "/healthz"))
    return base, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    runs: dict[tuple[str, int], list[dict[str, float]]] = {(s, c): [] for s in SETTINGS for c in (8, 1)}
    with tempfile.TemporaryDirectory(dir=os.environ.get("GUARD_BENCH_DIR")) as tmp, ExitStack() as stack:
        servers = {s: start(stack, Path(tmp), s) for s in SETTINGS}
        for base, key in servers.values():
            wrk(base, key, 2)  # warm up
        for round_ in range(args.rounds):
            for connections in (8, 1):
                # FULL first in even rounds, NORMAL first in odd ones: neither always gets the fresher minute.
                for setting in SETTINGS if round_ % 2 == 0 else SETTINGS[::-1]:
                    base, key = servers[setting]
                    runs[setting, connections].append(wrk(base, key, args.seconds, connections))
    print(report(runs, args.rounds, args.seconds))


def report(runs: dict[tuple[str, int], list[dict[str, float]]], rounds: int, seconds: int) -> str:
    lines = [f"#### SQLite synchronous FULL vs NORMAL: {date.today().isoformat()}, {os.cpu_count()} cores, "
             f"{WORKERS} workers, {rounds} alternating rounds of {seconds} s", "",
             "| connections | FULL req/s (rounds) | NORMAL req/s (rounds) | FULL / NORMAL per round "
             "(median, spread) | p99 FULL / NORMAL (median) |", "| --- | --- | --- | --- | --- |"]
    for connections in (8, 1):
        full, normal = runs["FULL", connections], runs["NORMAL", connections]
        ratios = [f["rps"] / n["rps"] for f, n in zip(full, normal, strict=True)]
        lines.append(
            f"| {connections} | {_rates(full)} | {_rates(normal)} "
            f"| **{statistics.median(ratios):.2f}** ({min(ratios):.2f} to {max(ratios):.2f}) "
            f"| {statistics.median(r['p99_ms'] for r in full):.1f} ms / "
            f"{statistics.median(r['p99_ms'] for r in normal):.1f} ms |")
    return "\n".join(lines) + "\n"


def _rates(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['rps']:,.0f}" for r in runs)


if __name__ == "__main__":
    main()
