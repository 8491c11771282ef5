"""What `notify: care.requested` costs the decision path (issue 15 part 2).

In-process A/B, alternated round by round on one fresh database: `notify` decides with the starter rules as
shipped (care-first says `notify: care.requested`), `no notify` with the same rules without that line. Every
customer asked about in the first two measures has an open complaint, so care-first reroutes all of them:
- `first`: campaign chunks (`decide_batch` of CHUNK customers) never told about before: with notify, each
  decision claims its key in `care_notifications` and enqueues one outbox message (the worst case);
- `repeat`: single decisions (`service.decide`, each committed) for customers of that chunk, told already:
  with notify, one INSERT .. ON CONFLICT DO NOTHING that finds the key;
- `calm`: chunks of customers without a situation: no notify case wins, nothing is done (should be equal).

Run by hand:  .venv/bin/python -m bench.care --db sqlite|postgres [--rounds 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import ROOT, fresh_database, production_guard
from guard.decisions import service
from guard.decisions.campaign import CHUNK
from guard.policy.ast import RuleSource
from guard.policy.evaluate import Evaluator
from guard.policy.parser import read_directory
from guard.policy.ruleset import build_evaluator
from guard.situation.events import ingest_batch

SINGLES = 200
MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-01T10:00:00Z", "campaign_id": "spring"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        guard = production_guard(url)
        customers = args.rounds * 2 * CHUNK
        events = [{"event_id": f"open-{n}", "customer_id": f"angry-{n}", "type": "complaint.opened",
                   "occurred_at": "2026-02-20T10:00:00Z", "data": {"case_id": f"K-{n}"}} for n in range(customers)]
        for start in range(0, len(events), 5000):
            ingest_batch(guard.db, events[start:start + 5000])
        evaluators = {"notify": guard.evaluator, "no notify": _without_notify()}
        timings: dict[str, dict[str, list[float]]] = {"first": {}, "repeat": {}, "calm": {}}
        block = 0
        for round_ in range(args.rounds):
            order = ("notify", "no notify") if round_ % 2 == 0 else ("no notify", "notify")
            for label in order:
                evaluator = evaluators[label]
                angry = [f"angry-{block * CHUNK + i}" for i in range(CHUNK)]
                calm = [f"calm-{block * CHUNK + i}" for i in range(CHUNK)]
                block += 1
                timings["first"].setdefault(label, []).append(_chunk(guard, evaluator, angry))
                timings["repeat"].setdefault(label, []).append(_each(guard, evaluator, angry[:SINGLES]))
                timings["calm"].setdefault(label, []).append(_chunk(guard, evaluator, calm))
        with guard.db.raw_reads() as sql:
            told = sql.rows("SELECT count(*) FROM outbox WHERE type = 'care.requested'")[0][0]
        for kind, by_label in timings.items():
            for label, values in by_label.items():
                print(f"{args.db} {kind:6} {label:9} median {statistics.median(values) * 1e6:8.1f} us/decision "
                      f"(rounds: {', '.join(f'{v * 1e6:.0f}' for v in values)})")
        print(f"{args.db} care.requested messages: {told} (expected {args.rounds * CHUNK})")


def _without_notify() -> Evaluator:
    sources = read_directory(ROOT / "rules")
    return build_evaluator([RuleSource(s.name, s.text.replace("        notify: care.requested\n", ""))
                            for s in sources])


def _each(guard: Any, evaluator: Evaluator, customers: list[str]) -> float:
    return _per(lambda: [service.decide(guard.db, evaluator, {"customer_id": c, **MESSAGE}) for c in customers],
                len(customers))


def _chunk(guard: Any, evaluator: Evaluator, customers: list[str]) -> float:
    return _per(lambda: service.decide_batch(guard.db, evaluator, [{"customer_id": c, **MESSAGE} for c in customers]),
                len(customers))


def _per(call: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) / count


if __name__ == "__main__":
    main()
