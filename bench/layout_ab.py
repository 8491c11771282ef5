"""Alternated A/B of the in-process decision path between two checkouts (issue 12: the layout changed nothing).

Both trees keep `guard.decisions.service.decide/decide_batch` and `bench.common`, so one workload runs on each:
`python -m bench.layout_ab --trees OLD NEW --rounds 5` runs each round in a fresh process per tree, alternating
which goes first, and prints decisions/s (single and batch) with the median and spread per tree.
`--callgrind` counts instructions of the measured section only (callgrind_control toggles collection), which
is repeatable whatever else the machine does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SINGLES = 300
BATCH = 1000
BATCHES = 3


def _request(n: int) -> dict[str, object]:
    return {"customer_id": f"cust-{n % 2000}", "channel": "email", "purpose": "marketing",
            "campaign_id": f"spring-{n % 7}", "send_at": "2026-03-01T10:00:00Z"}


def _toggle(on: bool) -> None:
    if os.environ.get("GUARD_BENCH_CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                       capture_output=True)


def workload(singles: int, batches: int) -> dict[str, float]:
    """Decide `singles` single requests and `batches` batches on a fresh SQLite database; rates per second."""
    from bench.common import fresh_database, ingest_situations, production_guard
    from guard.decisions.service import decide, decide_batch

    with fresh_database("sqlite") as url:
        guard = production_guard(url)
        ingest_situations(guard, 2000, 0.3)
        for n in range(50):  # warm caches and the engine
            decide(guard.db, guard.evaluator, _request(n))
        _toggle(True)
        started = time.perf_counter()
        for n in range(singles):
            decide(guard.db, guard.evaluator, _request(100 + n))
        single = singles / (time.perf_counter() - started)
        started = time.perf_counter()
        for b in range(batches):
            decide_batch(guard.db, guard.evaluator, [_request(10_000 + b * BATCH + i) for i in range(BATCH)])
        batch = batches * BATCH / (time.perf_counter() - started)
        _toggle(False)
        guard.db.dispose()
    return {"single_per_s": single, "batch_per_s": batch}


def _run(tree: Path, callgrind: bool, singles: int, batches: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "bench.layout_ab", "--workload", str(singles), str(batches)]
    if not callgrind:
        out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "callgrind.out"
        env["GUARD_BENCH_CALLGRIND"] = "1"
        subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dump}",
                        *cmd], cwd=tree, env=env, capture_output=True, text=True, check=True)
        totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
        return {"instructions": float(totals[-1].split()[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trees", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--workload", nargs=2, type=int, metavar=("SINGLES", "BATCHES"))
    args = parser.parse_args()
    if args.workload:
        print(json.dumps(workload(*args.workload)))
        return
    singles, batches = (60, 1) if args.callgrind else (SINGLES, BATCHES)
    results: dict[str, list[dict[str, float]]] = {str(t): [] for t in args.trees}
    for round_ in range(args.rounds):
        order = args.trees if round_ % 2 == 0 else list(reversed(args.trees))
        for tree in order:
            results[str(tree)].append(_run(tree.resolve(), args.callgrind, singles, batches))
            print(round_, tree, results[str(tree)][-1], flush=True)
    for tree, rows in results.items():
        for key in rows[0]:
            values = [r[key] for r in rows]
            spread = (max(values) - min(values)) / statistics.median(values) * 100
            print(f"{tree} {key}: median {statistics.median(values):,.0f} "
                  f"(min {min(values):,.0f}, max {max(values):,.0f}, spread {spread:.1f}%)")


if __name__ == "__main__":
    main()
