"""CPU per decision of a stream chunk handed to a helper process, in process (issue 16, decision 4).

For chunks of 2,000 requests of one campaign (customers without a situation), in one process and one
database, alternated per round: the worker alone (`decide_batch`, answers encoded), the first hand-off
(`evaluate_ahead` in the helper, the items pickled, the worker `decide_evaluated` and encodes the answers)
and the lean one (`prepare_ahead` builds rows, digests and answer lines in the helper; compact tuples
pickled; the worker `decide_prepared`). Process CPU time per decision, split into the helper's share
(work + pickling) and the writer's (unpickling + recording). Pickling runs here, not across a pipe.

    .venv/bin/python -m bench.stream_handoff --db sqlite --rounds 10
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from bench.common import fresh_database, production_guard
from guard.core.timeutil import utcnow
from guard.decisions.parallel import _sent_back
from guard.decisions.service import (
    ANSWER_LINE,
    Prepared,
    _Item,
    decide_batch,
    decide_evaluated,
    decide_prepared,
    evaluate_ahead,
    prepare_ahead,
)

CHUNK = 2000
MESSAGE = {"channel": "email", "purpose": "marketing", "campaign_id": "summer", "product_ids": ["P3"],
           "send_at": "2026-03-16T10:00:00Z"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        guard = production_guard(url)
        db, evaluator = guard.db, guard.evaluator
        batches = iter(range(10**6))

        def raws() -> list[dict[str, Any]]:
            n = next(batches)
            return [{**MESSAGE, "customer_id": f"c{n}-{i}"} for i in range(CHUNK)]

        decide_batch(db, evaluator, raws(), "bench")  # warm: rules compiled, shapes remembered
        spent: dict[str, float] = defaultdict(float)

        def timed(name: str, work: Any, *args: Any) -> Any:
            started = time.process_time()
            out = work(*args)
            spent[name] += time.process_time() - started
            return out

        for _ in range(args.rounds):
            requests = raws()
            timed("alone: worker", lambda r: [f"{ANSWER_LINE(a)}\n".encode() for a in decide_batch(
                db, evaluator, r, "bench")], requests)
            now, requests = utcnow(), raws()
            items = timed("first: helper", lambda r, now=now: pickle.dumps(_sent_back(evaluate_ahead(
                db, evaluator, r, "bench", None, now)), -1), requests)
            timed("first: writer", lambda data, now=now: [f"{ANSWER_LINE(a)}\n".encode() for a in decide_evaluated(
                db, evaluator, pickle.loads(data), now)], items)
            now, requests = utcnow(), raws()

            def helper(r: list[Any], now: datetime = now) -> bytes:
                entries = prepare_ahead(db, evaluator, r, list(range(CHUNK)), "bench", None, now)
                _sent_back([e for e in entries if isinstance(e, _Item)])
                return pickle.dumps(entries, -1)

            def writer(data: bytes, r: list[Any], now: datetime = now) -> bytes:
                answers = decide_prepared(db, evaluator, pickle.loads(data), now, r.__getitem__, "bench", None)
                assert answers is not None
                return b"".join(a.line if isinstance(a, Prepared) else f"{ANSWER_LINE(a)}\n".encode()
                                for a in answers)

            timed("lean: writer", writer, timed("lean: helper", helper, requests), requests)
        print(f"{args.db}, {args.rounds} rounds of {CHUNK}, load average {os.getloadavg()}")
        for name, seconds in spent.items():
            print(f"{name:15} {seconds / (args.rounds * CHUNK) * 1e6:6.1f} us per decision")


if __name__ == "__main__":
    main()
