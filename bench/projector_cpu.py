"""Issue 16, decision 2, in process: the CPU one decision costs its worker before (A: a source tree of the base
commit, reason rows and both reviewers' indexes written by the writer) and after (B: this tree, reasons inline,
the reviewers' index by the projector), and what B's projector then spends per decision behind the writer.

Each round runs one child process per side (A, B, A, B, ...: both see the same machine), on a fresh migrated
database of the chosen kind with the starter rules: SINGLES sequential `decide` calls, then one `decide_batch`
of BATCH customers; CPU is the child's own process time (on PostgreSQL the server's CPU is not in it, on SQLite
the database's work is). Prints per-round figures, medians and the spread (min-max). --callgrind counts the
instructions of the singles and of the batch per decision instead (one run per side and part: the counts do not
drift with the machine).

Run by hand:  .venv/bin/python -m bench.projector_cpu --db sqlite|postgres [--base 028caf7] [--rounds 5]
              [--callgrind]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT
from bench.projector import base_tree

SINGLES = 2000
BATCH = 10_000
CHILD = """
import json, os, subprocess, sys, time
from bench.common import fresh_database, production_guard
from guard.decisions.service import decide, decide_batch
kind, singles, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def toggle(on):
    if os.environ.get("GUARD_BENCH_CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                       capture_output=True)
message = {"channel": "email", "purpose": "marketing", "campaign_id": "spring", "send_at": "2026-03-10T12:00:00Z"}
with fresh_database(kind) as url:
    guard = production_guard(url)
    for i in range(200):
        decide(guard.db, guard.evaluator, {**message, "customer_id": f"w-{i}"})
    decide_batch(guard.db, guard.evaluator, [{**message, "customer_id": f"wb-{i}"} for i in range(1000)])
    started = time.process_time()
    toggle(singles > 0)
    for i in range(singles):
        decide(guard.db, guard.evaluator, {**message, "customer_id": f"s-{i}"})
    toggle(False)
    single = (time.process_time() - started) / max(singles, 1)
    customers = [{**message, "customer_id": f"b-{i}"} for i in range(batch)]
    started = time.process_time()
    toggle(batch > 0)
    if batch:
        decide_batch(guard.db, guard.evaluator, customers)
    toggle(False)
    batched = (time.process_time() - started) / max(batch, 1)
    projected = None
    try:
        from guard.decisions.projector import catch_up
    except ImportError:
        pass
    else:
        started = time.process_time()
        done = catch_up(guard.db)
        projected = (time.process_time() - started) / done
    guard.db.dispose()
print(json.dumps({"single_us": single * 1e6, "batch_us": batched * 1e6,
                  "projector_us": projected * 1e6 if projected else None}))
"""


def run(tree: Path, kind: str, singles: int = SINGLES, batch: int = BATCH) -> dict[str, float]:
    """One child on `tree`: its CPU per decision."""
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}", "GUARD_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(singles), str(batch)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def instructions(tree: Path, kind: str, singles: int, batch: int) -> float:
    """Instructions per decision of the singles (batch 0) or of the batch (singles 0), under callgrind."""
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}", "GUARD_LOG_LEVEL": "WARNING",
           "GUARD_BENCH_CALLGRIND": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dump}",
                        sys.executable, "-c", CHILD, kind, str(singles), str(batch)], env=env, cwd=tree,
                       capture_output=True, text=True, check=True)
        totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
        return float(totals[-1].split()[1]) / (singles or batch)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--base", default="028caf7", help="The commit of the writer before (A).")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true", help="Instructions per decision instead of CPU time.")
    args = parser.parse_args()
    if args.callgrind:
        with tempfile.TemporaryDirectory() as tmp:
            trees = {"A": base_tree(args.base, Path(tmp)), "B": ROOT}
            for part, (singles, batch) in {"single": (300, 0), "batch": (0, 2000)}.items():
                counts = {side: instructions(tree, args.db, singles, batch) for side, tree in trees.items()}
                print(f"{part}: instructions per decision A {counts['A']:,.0f}  B {counts['B']:,.0f}  "
                      f"B/A {counts['B'] / counts['A']:.3f}", flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"A": base_tree(args.base, Path(tmp)), "B": ROOT}
        results: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for round_ in range(args.rounds):
            for side, tree in trees.items():
                results[side].append(run(tree, args.db))
                print(f"round {round_ + 1} {side}: {results[side][-1]}", flush=True)
    print(f"load average {os.getloadavg()}")
    for measure in ("single_us", "batch_us"):
        a = [r[measure] for r in results["A"]]
        b = [r[measure] for r in results["B"]]
        ratios = [y / x for x, y in zip(a, b, strict=True)]
        print(f"{measure}: A {_spread(a)}  B {_spread(b)}  B/A median {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f})")
    print(f"projector_us (B, behind the writer): {_spread([r['projector_us'] for r in results['B']])}")


if __name__ == "__main__":
    main()
