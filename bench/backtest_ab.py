"""Alternated A/B of the backtest replay between two checkouts, on one recorded database (SQLite or PostgreSQL).

The database (events for 10% of 50,000 customers, N decisions recorded through decide_batch, as
bench/backtest.py makes it) is built once by this tree; then each round replays it with the same candidate rules
in a fresh process per tree, which goes first alternating. Each run prints decisions/s (wall clock), CPU us per
decision (the replaying thread; on SQLite that is all of it) and a digest of the whole report (seconds left out):
equal digests mean identical results. --callgrind counts the instructions of the replay per decision instead.

Run by hand:  .venv/bin/python -m bench.backtest_ab --trees OLD NEW [--rounds 5] [--decisions 20000] [--processes N]
              [--db sqlite|postgres] [--callgrind]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent


def record(url: str, decisions: int) -> None:
    """Events and recorded decisions, as bench/backtest.py makes them."""
    from bench.common import decision_requests, production_guard, situation_events
    from guard.decisions.service import decide_batch
    from guard.situation.events import ingest_batch

    guard = production_guard(url)
    events = situation_events(50_000, 0.10)
    for start in range(0, len(events), 1000):
        ingest_batch(guard.db, events[start:start + 1000])
    requests = decision_requests(decisions, 50_000)
    while chunk := list(islice(requests, 10_000)):
        decide_batch(guard.db, guard.evaluator, chunk)
    guard.db.dispose()


def replay(url: str, processes: int) -> dict[str, object]:
    """One backtest of the recorded decisions (imports only `guard`, so it runs against either tree)."""
    from guard.lifecycle.backtest import run_backtest
    from guard.policy.ast import RuleSource
    from guard.policy.parser import read_directory
    from guard.policy.ruleset import build_evaluator
    from guard.storage.database import Database

    candidate_rule = (ROOT / "bench" / "backtest.py").read_text().split('CANDIDATE_RULE = """\\\n')[1].split('"""')[0]
    db = Database(url)
    candidate = build_evaluator([*read_directory(ROOT / "rules"), RuleSource("spring.yaml", candidate_rule)])
    pool: dict[str, Any] = {"processes": processes} if "processes" in inspect.signature(run_backtest).parameters \
        else {}
    _toggle(True)
    cpu, children = time.thread_time(), _children_cpu()
    report = run_backtest(db, candidate, samples=200, **pool)
    cpu, children = time.thread_time() - cpu, _children_cpu() - children
    _toggle(False)
    seconds = report.pop("seconds")
    report.pop("decisions_per_second")
    digest = hashlib.sha256(json.dumps(report, sort_keys=True, default=str).encode()).hexdigest()[:16]
    total = int(report["total"])
    # cpu_us: the replaying thread; cpu_all_us adds the pool's processes (reaped when the pool shuts down).
    return {"per_s": total / seconds, "cpu_us": cpu / total * 1e6, "cpu_all_us": (cpu + children) / total * 1e6,
            "digest": digest, "total": total, **pool}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _toggle(on: bool) -> None:
    if os.environ.get("GUARD_BENCH_CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                       capture_output=True)


def _run(tree: Path, url: str, processes: int, callgrind: bool) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(HERE), "--replay", url, "--processes", str(processes)]
    if not callgrind:
        out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "callgrind.out"
        env["GUARD_BENCH_CALLGRIND"] = "1"
        out = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dump}",
                              *cmd], cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
        result = dict(json.loads(out.strip().splitlines()[-1]))
        totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
        return {"instructions": float(totals[-1].split()[1]) / int(result["total"]), "digest": result["digest"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite",
                        help="postgres: cpu_us is Guard's side only (the server's CPU is not counted)")
    parser.add_argument("--processes", type=int, default=1, help="Passed to trees whose run_backtest takes it.")
    parser.add_argument("--callgrind", action="store_true", help="Instructions per decision (one process).")
    parser.add_argument("--replay", metavar="URL")
    args = parser.parse_args()
    if args.replay:
        print(json.dumps(replay(args.replay, args.processes)))
        return
    from bench.common import fresh_database

    with fresh_database(args.db) as url:
        record(url, args.decisions)
        results: dict[str, list[dict[str, object]]] = {str(t): [] for t in args.trees}
        for round_ in range(args.rounds):
            for tree in args.trees if round_ % 2 == 0 else list(reversed(args.trees)):
                results[str(tree)].append(_run(tree.resolve(), url, args.processes, args.callgrind))
                print(round_, tree, results[str(tree)][-1], flush=True)
    for tree, rows in results.items():
        for key in ("instructions",) if args.callgrind else ("per_s", "cpu_us", "cpu_all_us"):
            values = [float(r[key]) for r in rows]  # type: ignore[arg-type]
            median = statistics.median(values)
            print(f"{tree} {key}: median {median:,.1f} (min {min(values):,.1f}, max {max(values):,.1f}, "
                  f"spread {(max(values) - min(values)) / median * 100:.1f}%)")
        print(f"{tree} digests: {sorted({str(r['digest']) for r in rows})}")


if __name__ == "__main__":
    main()
