"""The campaign-scale suite as an alternated before/after between two checkouts (issue 16's target rows).

Run by hand:  .venv/bin/python -m bench.suite_ab --trees BEFORE AFTER --db sqlite   (and --db postgres)

Each tree serves from its own checkout (`PYTHONPATH` and working directory) on its own fresh database, both
servers up at once with the same worker class and count, the same situation events ingested, one bare Flask
endpoint beside them. Then rounds alternate which tree goes first: single decisions (wrk, 8 connections,
CPU of the workers per request), a batch round (message + 10,000 ids per call) and a streamed campaign.
Each round sends at a date 40 days after the previous one, so its frequency caps do not see the previous
round's decisions (both trees see the same sequence). On PostgreSQL the database's own backends' CPU is
counted apart (production runs it on another machine). Prints a markdown table with medians and every round.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from bench import pgcpu
from bench.common import fresh_database
from bench.suite import (
    REFUSED,
    WORKERS,
    Server,
    bare_server,
    batch,
    free_port,
    ingest,
    process,
    stream,
    worker_cpu_seconds,
    worker_peak_mb,
    wrk_cpu,
)

START = datetime(2026, 3, 16, 10)


@dataclass
class Tree:
    """One checkout served for the whole run, and what was measured of it."""

    label: str
    path: Path
    url: str = ""
    db_url: str = ""
    pid: int = 0
    key: str = ""
    rows: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.rows.setdefault(name, []).append(value)


def tree_env(tree: Path, db_url: str) -> dict[str, str]:
    """The environment a checkout's `guard` runs in: its own sources first on the path."""
    return {**os.environ, "PYTHONPATH": str(tree), "GUARD_DATABASE_URL": db_url,
            "GUARD_RULES_DIR": str(tree / "rules"), "GUARD_LOG_LEVEL": "WARNING"}


@contextmanager
def served(tree: Tree, db_kind: str) -> Iterator[Tree]:
    """The checkout's `guard serve` on a fresh database with an admin key and the suite's situation events."""
    with fresh_database(db_kind) as db_url:
        env = tree_env(tree.path, db_url)
        guard = [sys.executable, "-m", "guard.cli"]
        created = subprocess.run([*guard, "keys", "create", "--name", "bench", "--scope", "admin"], env=env,
                                 cwd=tree.path, capture_output=True, text=True, check=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [*guard, "serve", "--port", str(port), "--workers", str(WORKERS)]
        with process(cmd, env, url + "/healthz", cwd=tree.path) as server:
            tree.url, tree.db_url, tree.pid = url, db_url, server.pid
            tree.key = created.stdout.strip().splitlines()[-1]
            ingest(url, tree.key)
            yield tree


def measured(tree: Tree, work: Callable[[], tuple[int, float]]) -> tuple[int, float, float, float]:
    """Run `work` (count, seconds) and return it with the workers' and PostgreSQL's CPU seconds it took."""
    pids = pgcpu.backend_pids(tree.db_url) if pgcpu.is_postgres(tree.db_url) else []
    workers_before, pg_before = worker_cpu_seconds(tree.pid), pgcpu.cpu_seconds(pids)
    count, seconds = work()
    workers_after = worker_cpu_seconds(tree.pid)
    pg_spent = pgcpu.cpu_seconds(pids) - pg_before
    spent = sum(workers_after.values()) - sum(workers_before.values())
    if workers_after.keys() != workers_before.keys():
        spent = math.nan  # a worker was replaced: its start-up would be counted
    return count, seconds, spent, pg_spent


def single_round(tree: Tree) -> None:
    """Five seconds of single decisions at 8 connections."""
    pids = pgcpu.backend_pids(tree.db_url) if pgcpu.is_postgres(tree.db_url) else []
    pg_before = pgcpu.cpu_seconds(pids)
    result = wrk_cpu(tree.url, tree.key, tree.pid, 5)
    tree.add("single_rps", result["rps"])
    tree.add("single_p99_ms", result["p99_ms"])
    tree.add("single_cpu_us", result["cpu_us"])
    if pids:
        tree.add("single_pg_cpu_us", (pgcpu.cpu_seconds(pids) - pg_before) / result["requests"] * 1e6)


def heavy_round(tree: Tree, round_: int, recipients: int) -> None:
    """Three batch calls of 10,000 ids, then a streamed campaign to `recipients`."""
    send_at = (START + timedelta(days=40 * round_)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, work in (("batch", lambda: batch(tree.url, tree.key, 3, send_at)),
                       ("stream", lambda: stream(tree.url, tree.key, recipients, send_at))):
        count, seconds, spent, pg_spent = measured(tree, work)
        tree.add(f"{name}_per_s", count / seconds)
        tree.add(f"{name}_s", seconds)
        tree.add(f"{name}_cpu_us", spent / count * 1e6)
        if pgcpu.is_postgres(tree.db_url):
            tree.add(f"{name}_pg_cpu_us", pg_spent / count * 1e6)
        print(f"  {tree.label} {name}: {count:,} in {seconds:.1f} s, workers {spent / count * 1e6:.0f} us/decision",
              flush=True)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(trees: list[Tree], db_kind: str, singles: int, heavies: int, recipients: int) -> list[str]:
    """Serve both trees and the bare endpoint, alternate the rounds, return the report's lines."""
    loads = [load_average()]
    bare_port = free_port()
    bare_rps: list[float] = []
    bare_cpu: list[float] = []
    with contextlib.ExitStack() as stack:
        bare = stack.enter_context(bare_server(bare_port))
        bare_srv = Server(f"http://127.0.0.1:{bare_port}", bare.pid)
        for tree in trees:
            stack.enter_context(served(tree, db_kind))
        for round_ in range(singles):
            result = wrk_cpu(bare_srv.url, "", bare_srv.pid, 5)
            bare_rps.append(result["rps"])
            bare_cpu.append(result["cpu_us"])
            for tree in trees if round_ % 2 == 0 else reversed(trees):
                single_round(tree)
            print(f"single round {round_}: bare {bare_rps[-1]:,.0f}/s; "
                  + "; ".join(f"{t.label} {t.rows['single_rps'][-1]:,.0f}/s" for t in trees), flush=True)
        loads.append(load_average())
        for round_ in range(heavies):
            for tree in trees if round_ % 2 == 0 else reversed(trees):
                heavy_round(tree, round_, recipients)
            loads.append(load_average())
        for tree in trees:
            tree.add("worker_peak_mb", worker_peak_mb(tree.pid))
    for tree in trees:
        tree.rows["ratio_rps"] = [s / b for s, b in zip(tree.rows["single_rps"], bare_rps, strict=True)]
        tree.rows["ratio_cpu"] = [b / s for s, b in zip(tree.rows["single_cpu_us"], bare_cpu, strict=True)]
    return report(trees, db_kind, recipients, loads, bare_rps)


def _cell(values: list[float], digits: int) -> str:
    known = [v for v in values if not math.isnan(v)]
    if not known:
        return "n/a"
    rounds = ", ".join(f"{v:,.{digits}f}" for v in values)
    return f"**{statistics.median(known):,.{digits}f}** ({rounds})" if len(values) > 1 else f"{known[0]:,.{digits}f}"


ROWS = [("ratio_rps", "single decisions / bare endpoint, throughput", 2),
        ("ratio_cpu", "single decisions / bare endpoint, CPU per request (bare's / Guard's)", 2),
        ("single_rps", "single decisions/s, 8 connections", 0),
        ("single_p99_ms", "single decisions p99 (ms)", 1),
        ("single_cpu_us", "workers' CPU per single decision (us)", 0),
        ("single_pg_cpu_us", "PostgreSQL's CPU per single decision (us)", 0),
        ("batch_per_s", "batch decisions/s (message + 10,000 ids)", 0),
        ("batch_cpu_us", "workers' CPU per batch decision (us)", 0),
        ("batch_pg_cpu_us", "PostgreSQL's CPU per batch decision (us)", 0),
        ("stream_s", "streamed campaign, seconds", 1),
        ("stream_per_s", "streamed campaign, decisions/s", 0),
        ("stream_cpu_us", "workers' CPU per streamed decision (us)", 0),
        ("stream_pg_cpu_us", "PostgreSQL's CPU per streamed decision (us)", 0),
        ("worker_peak_mb", "worker peak memory, VmHWM (MB)", 0)]


def report(trees: list[Tree], db_kind: str, recipients: int, loads: list[str], bare_rps: list[float]) -> list[str]:
    """A markdown table: one row per measure, one column per tree (median in bold, then every round)."""
    head = " | ".join(f"{t.label} ({t.path.name})" for t in trees)
    lines = [f"### {db_kind}: {date.today().isoformat()}, {os.cpu_count()} cores, {WORKERS} workers per server, "
             f"{recipients:,} recipients per stream",
             "", f"Load average (1/5/15 min) at the start and after each phase: {' | '.join(loads)}. "
             f"Bare endpoint per round: {', '.join(f'{r:,.0f}' for r in bare_rps)} req/s. "
             f"Batch calls answered 503 and sent again: {len(REFUSED)}.", "",
             f"| measure | {head} |", "| --- |" + " --- |" * len(trees)]
    for name, label, digits in ROWS:
        if any(name in t.rows for t in trees):
            lines.append(f"| {label} | " + " | ".join(_cell(t.rows.get(name, []), digits) for t in trees) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trees", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), required=True)
    parser.add_argument("--labels", nargs=2, default=["before", "after"])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--single-rounds", type=int, default=6)
    parser.add_argument("--heavy-rounds", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    args = parser.parse_args()
    trees = [Tree(label, path.resolve()) for label, path in zip(args.labels, args.trees, strict=True)]
    print("\n".join(run(trees, args.db, args.single_rounds, args.heavy_rounds, args.recipients)))


if __name__ == "__main__":
    main()
