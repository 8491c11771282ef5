"""What identity links cost the decision path: the one indexed read of `service.identities_of`.

In-process A/B, alternated round by round on one fresh database (20,000 customers, 10% with events, 1,000
of them linked to 3 aliases each): `with links` is the code as it is; `no read` replaces
`service.identities_of` by a function answering "no links" without touching the database, which is what the
decision path did before identity links. Measured: what one decision reads (`_Context.load` for one
customer, no writes: the direct cost), single decisions (`service.decide`, each committed with
its audit record) for customers without links, and campaign chunks (`decide_batch` of `CHUNK` customers);
then, for information, single decisions under an alias of a linked customer.

Run by hand:  .venv/bin/python -m bench.aliases --db sqlite|postgres [--rounds 6]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import START, fresh_database, ingest_situations, production_guard
from guard.decisions import service
from guard.decisions.campaign import CHUNK
from guard.situation.aliases import link
from guard.situation.history import Identities
from guard.storage.sql import Sql

CUSTOMERS = 20_000
LINKED = 1_000
SINGLES = 300
MESSAGE = {"channel": "email", "purpose": "marketing", "product_ids": ["P3"], "send_at": "2026-03-01T10:00:00Z"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        guard = production_guard(url)
        ingest_situations(guard, CUSTOMERS, 0.1)
        with guard.db.transaction() as session:
            for n in range(LINKED):  # the last 1,000 customers, each known to the shop, helpdesk and by e-mail
                cid = f"cust-{CUSTOMERS - 1 - n}"
                link(session, cid, [f"shop:{n}", f"helpdesk:{n}", f"email:{n}@example.com"])
        real = service.identities_of
        timings: dict[str, dict[str, list[float]]] = {"reads": {}, "single": {}, "chunk": {}, "alias": {}}
        offset = 0
        for round_ in range(args.rounds):
            order = ("with links", "no read") if round_ % 2 == 0 else ("no read", "with links")
            for label in order:
                service.identities_of = real if label == "with links" else _no_read  # type: ignore[assignment]
                try:
                    singles = [f"cust-{(offset + i) % (CUSTOMERS - LINKED)}" for i in range(SINGLES)]
                    chunk = [f"cust-{(offset + i) % (CUSTOMERS - LINKED)}" for i in range(CHUNK)]
                    offset += CHUNK
                    timings["reads"].setdefault(label, []).append(_reads(guard, singles))
                    timings["single"].setdefault(label, []).append(_each(guard, singles))
                    timings["chunk"].setdefault(label, []).append(_chunk(guard, chunk))
                    if label == "with links":
                        aliases = [f"shop:{(offset + i) % LINKED}" for i in range(SINGLES)]
                        timings["alias"].setdefault(label, []).append(_each(guard, aliases))
                finally:
                    service.identities_of = real  # type: ignore[assignment]
        for kind, by_label in timings.items():
            for label, values in by_label.items():
                print(f"{args.db} {kind:6} {label:10} median {statistics.median(values) * 1e6:8.1f} us/decision "
                      f"(rounds: {', '.join(f'{v * 1e6:.0f}' for v in values)})")


def _no_read(sql: Sql, customers: Sequence[str]) -> Identities:
    return Identities({}, {})


def _reads(guard: Any, customers: list[str]) -> float:
    """Only what a single decision reads (its `_Context.load`), best of 3, outside any transaction."""
    messages = [service.to_message(service.validate_request({"customer_id": c, **MESSAGE}), c, START)
                for c in customers]
    best = float("inf")
    with guard.db.raw_reads() as sql:
        for _ in range(3):
            best = min(best, _per(lambda: [service._Context.load(sql, guard.evaluator, [m]) for m in messages],
                                  len(messages)))
    return best


def _each(guard: Any, customers: list[str]) -> float:
    return _per(lambda: [service.decide(guard.db, guard.evaluator, {"customer_id": c, **MESSAGE})
                         for c in customers], len(customers))


def _chunk(guard: Any, customers: list[str]) -> float:
    return _per(lambda: service.decide_batch(guard.db, guard.evaluator,
                                             [{"customer_id": c, **MESSAGE} for c in customers]), len(customers))


def _per(call: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) / count


if __name__ == "__main__":
    main()
