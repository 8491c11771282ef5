"""Benchmark: binary against text COPY for a campaign's decision rows on PostgreSQL, alternated rounds.

Each round COPYs 10,000 decision rows (as a batch writes them: stored request and facts as JSON text) in
one transaction, once per format; this process's CPU and PostgreSQL's own CPU (its backend, from /proc)
per row, medians and spread (min-max).

Run by hand:  .venv/bin/python -m bench.copy_formats [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import fresh_database
from bench.pgcpu import backend_pids, cpu_seconds
from guard.storage.bulk import DECISION_COLUMNS
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from guard.storage.sql import Sql, wrapped

ROWS = 10_000
AT = datetime(2026, 3, 1, tzinfo=UTC)


def text_copy(sql: Sql, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """The text COPY Guard used before."""
    query = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    cursor = sql.connection.cursor()
    try:
        with cursor.copy(query) as copy:
            for row in rows:
                copy.write_row(row)
    except sql._error as exc:
        raise wrapped(query, exc, sql._error) from exc
    finally:
        cursor.close()


def binary_copy(sql: Sql, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    sql.copy(table, columns, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    request = json.dumps({"channel": "email", "purpose": "marketing", "campaign_id": "summer",
                          "send_at": AT.isoformat()})
    facts = json.dumps({"message": {"channel": "email"}, "situation": {"open_complaints": 0}})
    with fresh_database("postgres") as url:
        upgrade(url)
        db = Database(url)
        next_id = [0]

        def rows() -> list[tuple[Any, ...]]:
            out = []
            for _ in range(ROWS):
                next_id[0] += 1
                n = next_id[0]
                out.append((n, f"d-{n}", f"cust-{n}", "summer", "email", "marketing", AT, "allow", None, None,
                            "1", AT + timedelta(seconds=n), None, "0" * 64, request, facts, "bench", 0))
            return out

        variants: dict[str, Callable[..., None]] = {"text COPY": text_copy, "binary COPY": binary_copy}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for number in range(-1, args.rounds):
            for name, copy in variants.items():
                batch = rows()
                pids = backend_pids(url)
                database, own = cpu_seconds(pids), time.process_time()
                with db.raw_transaction() as sql:
                    copy(sql, "decisions", DECISION_COLUMNS, batch)
                own = time.process_time() - own
                started = [pid for pid in backend_pids(url) if pid not in pids]
                database = cpu_seconds(pids) - database + cpu_seconds(started)
                if number >= 0:
                    results[name].append((own / ROWS * 1e6, database / ROWS * 1e6))
        db.dispose()
    print(f"{ROWS:,} decision rows per COPY, {args.rounds} alternated rounds; us per row, median (min-max)")
    for name, values in results.items():
        mine, server = [v[0] for v in values], [v[1] for v in values]
        print(f"{name}: this process {statistics.median(mine):.2f} ({min(mine):.2f}-{max(mine):.2f}); "
              f"PostgreSQL {statistics.median(server):.2f} ({min(server):.2f}-{max(server):.2f})")


if __name__ == "__main__":
    main()
