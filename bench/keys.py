"""Benchmark: what remembering verified API keys for a second saves per request (guard/auth/known.py).

A: every request reads its key (the code before: a pooled connection, one indexed SELECT).
B: the key is remembered by the process for FRESH_FOR (one read a second per key and process).
Rounds alternate A and B in one run; medians and the spread (min-max) of the per-round means are printed.
On PostgreSQL the server's own CPU (its backends, from /proc) is counted apart from this process's.

Run by hand:  .venv/bin/python -m bench.keys --db sqlite   (and --db postgres)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bench.common import fresh_database
from bench.pgcpu import backend_pids, cpu_seconds, is_postgres
from guard.auth.keys import create_key, lookup, token_digest
from guard.auth.known import KnownKeys
from guard.storage.database import Database
from guard.storage.migrations import upgrade

ROUNDS = 7
CALLS = 5000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        upgrade(url)
        db = Database(url)
        with db.transaction() as session:
            for n in range(100):  # a realistic handful of other keys in the table
                create_key(session, f"other-{n}", ["decide"])
            _, token = create_key(session, "bench", ["decide", "read"])
        known = KnownKeys(db)

        def read_every_time() -> None:
            with db.raw_reads() as sql:
                lookup(sql, token_digest(token))

        def remembered() -> None:
            known.identify(token_digest(token))

        results = _alternate(url, {"A read every time": read_every_time, "B remembered 1 s": remembered},
                             args.rounds, args.calls)
        db.dispose()
    print(f"db={args.db}; {args.rounds} alternated rounds of {args.calls} authentications each")
    for name, (own, server, wall) in results.items():
        line = f"{name}: {_summary(wall)} µs/request elapsed; {_summary(own)} µs of this process's CPU"
        if server:
            line += f"; PostgreSQL's own CPU {_summary(server)} µs/request"
        print(line)


def _alternate(url: str, variants: dict[str, Callable[[], None]], rounds: int, calls: int
               ) -> dict[str, tuple[list[float], list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float], list[float]]] = {name: ([], [], []) for name in variants}
    for run in variants.values():  # warm up: pools, caches, prepared plans
        for _ in range(200):
            run()
    postgres = is_postgres(url)
    for _ in range(rounds):
        for name, run in variants.items():
            pids = backend_pids(url) if postgres else []
            server_before = cpu_seconds(pids)
            started, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                run()
            own, wall = time.process_time() - started, time.perf_counter() - wall
            out[name][0].append(own / calls * 1e6)
            out[name][2].append(wall / calls * 1e6)
            if postgres:
                out[name][1].append((cpu_seconds(pids) - server_before) / calls * 1e6)
    return out


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} (spread {min(values):.1f}-{max(values):.1f})"


if __name__ == "__main__":
    main()
