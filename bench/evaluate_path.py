"""One distinct situation through facts → engine → verdict, in process (issue 16's "in process" row).

Builds the starter rules' evaluator and N customer situations (events folded by `derive`, earlier decisions,
a message), every one giving a different fact document (a distinct local minute and weekday per situation), so
no answer cache can shortcut the engine; then times `Evaluator.evaluate` over them, and only that.

  .venv/bin/python -m bench.evaluate_path                      one run in this tree: us per situation
  .venv/bin/python -m bench.evaluate_path --profile            the same under pyinstrument
  .venv/bin/python -m bench.evaluate_path --fingerprint 20000  a digest of every verdict (outcome, route, defer
      time, reasons, facts) of that many situations: equal digests in two trees mean unchanged verdicts
  .venv/bin/python -m bench.evaluate_path --trees OLD NEW --rounds 7 [--callgrind]
      alternated A/B: each round runs each tree in a fresh process, which goes first alternating; with
      --callgrind it counts the instructions of the timed loop only (repeatable on a loaded machine).

The script imports only `guard`, so it runs against another checkout's `guard` (PYTHONPATH) unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
SITUATIONS = 5000
WARM_UP = 300
BASE = datetime(2026, 3, 2, 0, 0, 7, tzinfo=UTC)  # a Monday


def situations(count: int, seed: int, campaign: str | None = None) -> list[tuple[Any, Any, list[Any]]]:
    """`count` (message, situation, history) triples; message i is sent i minutes after BASE (< one week)."""
    from guard.core.message import Message, PriorDecision
    from guard.situation.derive import EventRecord, derive

    rng = random.Random(seed)
    out = []
    for i in range(count):
        at = BASE + timedelta(minutes=i % 10080, seconds=rng.randint(0, 50))
        cid = f"cust-{i}"
        events = []
        for k in range(rng.randint(0, 3)):
            when = at - timedelta(days=rng.randint(0, 40), seconds=rng.randint(1, 86399))
            kind = rng.choice(["complaint.opened", "complaint.resolved", "refund.requested", "purchase.completed",
                               "consent.withdrawn", "profile.updated", "newsletter.opened"])
            data: dict[str, Any] = {"case_id": f"K-{cid}", "refund_id": f"R-{cid}", "order_id": f"O-{cid}-{k}",
                                    "product_ids": [f"P{rng.randint(1, 20)}"], "channel": rng.choice(["email", "sms"]),
                                    "customer_since": f"20{rng.randint(10, 25)}-05-01", "timezone": "Europe/Paris"}
            events.append(EventRecord(f"{cid}-{k}", kind, when, data))
        history = [PriorDecision(at - timedelta(days=rng.randint(0, 9), seconds=rng.randint(1, 86399)), "marketing",
                                 "email", rng.choice(["allow", "allow", "defer"]), "spring", ())
                   for _ in range(rng.choice([0, 0, 1, 2, 3, 4]))]
        history.sort(key=lambda p: p.send_at)
        message = Message(cid, rng.choice(["email", "email", "sms", "push"]),
                          rng.choice(["marketing", "marketing", "marketing", "survey", "transactional"]), at,
                          campaign or rng.choice(["spring", "summer", "nps"]),
                          tuple(f"P{rng.randint(1, 20)}" for _ in range(rng.randint(1, 2))))
        out.append((message, derive(events, at), history))
    return out


def _toggle(on: bool) -> None:
    if os.environ.get("GUARD_BENCH_CALLGRIND"):
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                       capture_output=True)


def workload(count: int, profile: bool = False) -> dict[str, float]:
    """Evaluate `count` distinct situations once each with the starter rules; microseconds per situation."""
    from guard.policy.parser import read_directory
    from guard.policy.ruleset import build_evaluator

    evaluator = build_evaluator(read_directory(ROOT / "rules"))
    for message, situation, history in situations(WARM_UP, seed=3, campaign="warm-up"):
        evaluator.evaluate(message, situation, history)
    cases = situations(count, seed=5)
    distinct = _distinct_documents(evaluator, cases)
    profiler = _profiler() if profile else None
    _toggle(True)
    started, cpu = time.perf_counter(), time.thread_time()
    outcomes = [evaluator.evaluate(m, s, h).outcome for m, s, h in cases]
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    _toggle(False)
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)
    return {"us_per_situation": elapsed / count * 1e6, "cpu_us_per_situation": cpu / count * 1e6,
            "distinct_documents": distinct,
            "blocked": outcomes.count("block"), "deferred": outcomes.count("defer")}


def fingerprint(count: int) -> str:
    """A digest of the complete verdicts of `count` situations (several seeds, so varied shapes)."""
    import hashlib

    from guard.policy.parser import read_directory
    from guard.policy.ruleset import build_evaluator

    evaluator = build_evaluator(read_directory(ROOT / "rules"))
    digest = hashlib.sha256()
    for seed in range(max(1, count // 5000)):
        for message, situation, history in situations(min(count, 5000), seed=100 + seed):
            digest.update(repr(evaluator.evaluate(message, situation, history)).encode())
    return digest.hexdigest()


def _distinct_documents(evaluator: Any, cases: list[tuple[Any, Any, list[Any]]]) -> int:
    from guard.policy.engine import encode
    from guard.policy.facts import build_facts

    return len({encode(build_facts(evaluator.compiled, m, s, h).document) for m, s, h in cases})


def _profiler() -> Any:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    profiler.start()
    return profiler


def _run(tree: Path, callgrind: bool, count: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(HERE), "--workload", str(count)]
    if not callgrind:
        out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "callgrind.out"
        env["GUARD_BENCH_CALLGRIND"] = "1"
        subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dump}",
                        *cmd], cwd=tree, env=env, capture_output=True, text=True, check=True)
        totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
        return {"instructions_per_situation": float(totals[-1].split()[1]) / count}


def compare(trees: list[Path], rounds: int, callgrind: bool, count: int) -> None:
    """Alternated rounds of each tree in fresh processes; median, min, max and spread per tree."""
    results: dict[str, list[dict[str, float]]] = {str(t): [] for t in trees}
    for round_ in range(rounds):
        for tree in trees if round_ % 2 == 0 else list(reversed(trees)):
            results[str(tree)].append(_run(tree.resolve(), callgrind, count))
            print(round_, tree, results[str(tree)][-1], flush=True)
    for name, rows in results.items():
        for key in rows[0]:
            values = [r[key] for r in rows]
            spread = (max(values) - min(values)) / statistics.median(values) * 100 if statistics.median(values) else 0
            print(f"{name} {key}: median {statistics.median(values):,.1f} "
                  f"(min {min(values):,.1f}, max {max(values):,.1f}, spread {spread:.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--situations", type=int, default=SITUATIONS)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--workload", type=int, metavar="SITUATIONS")
    parser.add_argument("--fingerprint", type=int, metavar="SITUATIONS")
    args = parser.parse_args()
    if args.fingerprint:
        print(fingerprint(args.fingerprint))
    elif args.workload:
        print(json.dumps(workload(args.workload)))
    elif args.trees:
        compare(args.trees, args.rounds, args.callgrind, min(args.situations, 2000) if args.callgrind
                else args.situations)
    else:
        print(json.dumps(workload(args.situations, args.profile)))


if __name__ == "__main__":
    main()
