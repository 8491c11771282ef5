"""Benchmark: backtest speed (decisions replayed per second) on 100,000 recorded decisions.

Run by hand:  .venv/bin/python -m bench.backtest [--db sqlite|postgres] [--decisions 100000] [--processes N]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from itertools import islice

from bench.common import decision_requests, fresh_database, production_guard, situation_events
from guard.decisions.service import decide_batch
from guard.lifecycle.backtest import run_backtest
from guard.policy.ast import RuleSource
from guard.policy.parser import read_directory
from guard.policy.ruleset import build_evaluator
from guard.situation.events import ingest_batch

CANDIDATE_RULE = """\
rules:
  - id: no-spring
    description: The spring campaign is withdrawn.
    priority: 10
    when:
      - message.purpose: marketing
      - message.campaign_id: spring
    outcome: block
    explanation: "Campaign {message.campaign_id} is withdrawn."
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="Replay in this many processes (default: one per core).")
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        guard = production_guard(url)
        events = situation_events(args.customers, 0.10)
        for start in range(0, len(events), 1000):
            ingest_batch(guard.db, events[start:start + 1000])
        requests = decision_requests(args.decisions, args.customers)
        started = time.perf_counter()
        while chunk := list(islice(requests, 10_000)):
            decide_batch(guard.db, guard.evaluator, chunk)
        recorded = time.perf_counter() - started
        candidate = build_evaluator([*read_directory(guard.rules_dir), RuleSource("spring.yaml", CANDIDATE_RULE)])
        report = run_backtest(guard.db, candidate, processes=args.processes)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"machine: {os.cpu_count()} cores, {platform.python_version()}, db={args.db}")
        print(f"events: {len(events)}; decisions recorded: {args.decisions} in {recorded:.1f}s "
              f"({args.decisions / recorded:,.0f}/s through decide_batch)")
        print(f"backtest ({args.processes} processes): {report['total']} replayed in {report['seconds']:.1f}s = "
              f"{report['decisions_per_second']:,.0f} decisions/s; changed {report['changed']}")
        print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
