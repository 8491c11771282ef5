"""A/B of issue 16's "index behind the writer": the writer before (A: a source tree of the base commit) and
after (B: this tree), in one run, rounds alternating A, B, A, B, ... so both see the same machine.

Both are real `guard serve`s (same worker count, this venv's Python; PYTHONPATH picks the tree) on fresh
databases of the same kind, with the suite's situations ingested (10% of 1,000,000 customers). Per round:
`wrk` with 8 connections on single POST /v1/decisions (bench/decide.lua), then one POST /v1/decisions/batch
of a message and 10,000 customer ids, then a stream (`--stream` lines). After each B round, the time
until B's projection has caught up is taken; during every round a probe decides, then polls reviewers'
reads until its decision is listed (the lag a reviewer sees, on both sides alike), and B's /readyz lag is
sampled beside it.

Rows and index entries per decision are counted from each database afterwards: rows per decision in each
table the decision path writes, times that table's index entries (its secondary and unique indexes, and
its primary key unless SQLite keeps the row in the key itself), split into what the writer commits before
answering and what B's projector writes behind it.

Each batch has a campaign of its own; the time from its answer until its newest decision is listed under that
campaign is the batch's lag (its decisions are projected in id order: the newest comes last).

Run by hand:  .venv/bin/python -m bench.projector --db sqlite|postgres [--base 028caf7] [--rounds 5]
Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, inspect

from bench.common import ROOT, fresh_database
from bench.suite import free_port, ingest, wait_up, wrk

WORKERS = os.cpu_count() or 2
ROUND_SECONDS = 5
BATCH = 10_000
# The tables a decision leaves rows in, with what picks that decision's rows (audit: its own records only).
TABLES = {"decisions": "", "decision_reasons": "", "audit_records": " WHERE kind IN ('decision', 'decisions')",
          "decision_rules": "", "decision_campaigns": "", "decision_minutes": ""}
PROJECTED = {"decision_rules", "decision_campaigns", "decision_minutes"}  # written behind the writer in B


@dataclass
class Side:
    """One of the two servers: its name, tree, database and what its rounds measured."""

    name: str
    tree: Path
    url: str = ""
    db_url: str = ""
    key: str = ""
    singles: list[dict[str, float]] = field(default_factory=list)
    batches: list[float] = field(default_factory=list)  # decisions/s per round
    batch_lags: list[float] = field(default_factory=list)  # seconds from a batch's answer to its listing
    retries: int = 0  # batches answered 503 and sent again
    streams: list[float] = field(default_factory=list)  # decisions/s per round
    caught_up: list[float] = field(default_factory=list)  # seconds after a round until projected (B)
    lag_seen: list[float] = field(default_factory=list)  # largest /readyz lag_seconds seen in a round (B)
    stream_size: int = 0
    probes: list[list[float]] = field(default_factory=list)  # per round: each probe's answer-to-listed seconds


def base_tree(commit: str, into: Path) -> Path:
    """The source of `commit` (guard/, api/ for the linked OpenAPI file, rules/) extracted into `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "guard", "api", "rules"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


@contextmanager
def served(side: Side, db_kind: str) -> Iterator[Side]:
    """A fresh database, a key, a `guard serve` of the side's tree with the situations ingested."""
    with fresh_database(db_kind) as url:
        env = {**os.environ, "PYTHONPATH": str(side.tree), "GUARD_DATABASE_URL": url,
               "GUARD_RULES_DIR": str(ROOT / "rules"), "GUARD_LOG_LEVEL": "WARNING"}
        # Run from the tree itself: `python -m` puts the working directory first on the path.
        guard = [sys.executable, "-m", "guard.cli"]
        side.key = subprocess.run([*guard, "keys", "create", "--name", "bench", "--scope", "admin"], env=env,
                                  cwd=side.tree, capture_output=True, text=True, check=True
                                  ).stdout.strip().splitlines()[-1]
        port = free_port()
        side.url, side.db_url = f"http://127.0.0.1:{port}", url
        with _serving([*guard, "serve", "--port", str(port), "--workers", str(WORKERS)], env, side):
            ingest(side.url, side.key)
            yield side


@contextmanager
def _serving(command: list[str], env: dict[str, str], side: Side) -> Iterator[None]:
    """`guard serve` of the side's tree until the block ends."""
    log = Path(tempfile.gettempdir()) / f"bench-projector-{side.name}.log"  # kept: a failed round is explained
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=side.tree, stdout=out, stderr=out, start_new_session=True)
    try:
        wait_up(side.url + "/healthz")
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def batch_round(side: Side, round_: int) -> float:
    """One message for 10,000 customers (the same ones for both sides in a round); decisions per second. The
    seconds until its newest decision is listed under its campaign go to side.batch_lags."""
    campaign = f"autumn-{round_}"
    message = {"channel": "sms", "purpose": "marketing", "campaign_id": campaign, "send_at": "2026-03-17T10:00:00Z"}
    ids = [f"cust-{n}" for n in range(round_ * BATCH, (round_ + 1) * BATCH)]
    started = time.perf_counter()
    for _ in range(3):  # a 503 (PostgreSQL out of lock slots under others' load) is retried, as a client would
        answer = requests.post(f"{side.url}/v1/decisions/batch", json={"message": message, "customer_ids": ids},
                               headers={"Authorization": f"Bearer {side.key}"}, timeout=300)
        if answer.status_code != 503:
            break
        side.retries += 1
        time.sleep(1)
    answer.raise_for_status()
    rate = len(answer.json()["results"]) / (time.perf_counter() - started)
    answered, newest = time.monotonic(), answer.json()["results"][-1]["decision_id"]
    while [d["decision_id"] for d in requests.get(f"{side.url}/v1/decisions", params={"campaign_id": campaign,
           "limit": 1}, headers={"Authorization": f"Bearer {side.key}"}, timeout=60).json()["items"]] != [newest]:
        time.sleep(0.01)
    side.batch_lags.append(time.monotonic() - answered)
    return rate


def stream_round(side: Side, round_: int, recipients: int) -> float:
    """A campaign of `recipients` through POST /v1/decisions/stream (its own customers per round); per second."""
    message = {"channel": "email", "purpose": "marketing", "campaign_id": "summer", "product_ids": ["P3"],
               "send_at": "2026-03-16T10:00:00Z"}
    prefix = json.dumps(message)[:-1] + ', "customer_id": "stream-'
    first = round_ * recipients
    body = "".join(f'{prefix}{n}"}}\n' for n in range(first, first + recipients)).encode()
    started = time.perf_counter()
    with requests.post(f"{side.url}/v1/decisions/stream", data=body, stream=True, timeout=600,
                       headers={"Authorization": f"Bearer {side.key}", "Content-Type": "application/x-ndjson"}) as r:
        r.raise_for_status()
        count = sum(1 for line in r.iter_lines() if line)
    return count / (time.perf_counter() - started)


def projection(side: Side) -> dict[str, Any] | None:
    """The side's /readyz projection details (None: a tree without a projector)."""
    details = requests.get(f"{side.url}/readyz", timeout=30).json().get("details")
    return details["projection"] if details else None


def wait_projected(side: Side) -> float:
    """Seconds until the side's projection has caught up (0 for a tree without one)."""
    started = time.monotonic()
    while (state := projection(side)) is not None and state["behind"]:
        time.sleep(0.02)
    return time.monotonic() - started


@contextmanager
def lag_probes(side: Side) -> Iterator[None]:
    """While the block runs, one probe at a time: a decision of its own campaign, then reviewers' reads
    (GET /v1/decisions?campaign_id=probe) until it is listed; the seconds from its answer to being listed.
    The side's /readyz lag (an upper bound) is sampled beside it."""
    stop, listed, gauge = threading.Event(), [], [0.0]
    auth = {"Authorization": f"Bearer {side.key}"}

    def probe() -> None:
        with requests.Session() as session:
            n = 0
            while not stop.wait(0.2):
                n += 1
                body = {"customer_id": f"probe-{side.name}-{len(side.probes)}-{n}", "channel": "email",
                        "purpose": "service", "campaign_id": "probe"}
                decided = session.post(f"{side.url}/v1/decisions", json=body, headers=auth, timeout=60)
                answered = time.monotonic()
                wanted = decided.json()["decision_id"]
                while wanted not in [d["decision_id"] for d in session.get(
                        f"{side.url}/v1/decisions?campaign_id=probe&limit=5", headers=auth,
                        timeout=60).json()["items"]]:
                    time.sleep(0.01)
                listed.append(time.monotonic() - answered)
                state = projection(side)
                if state is not None:
                    gauge[0] = max(gauge[0], float(state["lag_seconds"]))

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        side.probes.append(listed)
        side.lag_seen.append(gauge[0])


def measure(sides: list[Side], rounds: int, recipients: int) -> None:
    """Warm both up, then alternate: each round runs A then B (singles, then a batch)."""
    for side in sides:
        wrk(side.url, side.key, 3)
        wait_projected(side)
    for round_ in range(rounds):
        for side in sides:
            with lag_probes(side):
                side.singles.append(wrk(side.url, side.key, ROUND_SECONDS))
                side.batches.append(batch_round(side, round_))
                if recipients:
                    side.streams.append(stream_round(side, round_, recipients))
            # B's catch-up after the round runs before A's next round, never during it.
            waited = wait_projected(side)
            if projection(side) is not None:
                side.caught_up.append(waited)


def entries_per_decision(db_url: str) -> dict[str, dict[str, float]]:
    """Per table: rows per decision and index entries per row (secondary, unique, and a separate primary key)."""
    engine = create_engine(db_url)
    try:
        schema = inspect(engine)
        postgres = engine.dialect.name == "postgresql"
        out: dict[str, dict[str, float]] = {}
        with engine.connect() as conn:
            decisions = conn.exec_driver_sql("SELECT count(*) FROM decisions").scalar() or 1
            for table, where in TABLES.items():
                if not schema.has_table(table):
                    continue
                rows = conn.exec_driver_sql(f"SELECT count(*) FROM {table}{where}").scalar() or 0
                out[table] = {"rows": rows / decisions, "indexes": float(_indexes(schema, table, postgres))}
        return out
    finally:
        engine.dispose()


def _indexes(schema: Any, table: str, postgres: bool) -> int:
    """Index entries one row of `table` adds: its indexes and unique constraints, and its primary key unless
    SQLite stores the row under it (a single INTEGER PRIMARY KEY is the rowid)."""
    indexes = [i for i in schema.get_indexes(table) if not i.get("duplicates_constraint")]
    uniques = schema.get_unique_constraints(table)
    key = schema.get_pk_constraint(table)["constrained_columns"]
    columns = {c["name"]: c for c in schema.get_columns(table)}
    rowid = (not postgres and len(key) == 1 and str(columns[key[0]]["type"]).upper() == "INTEGER")
    return len(indexes) + len(uniques) + (0 if rowid else 1)


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):,.0f} (rounds {min(values):,.0f}-{max(values):,.0f})"


def _probed(side: Side) -> str:
    every = [x for round_ in side.probes for x in round_]
    return f"{statistics.median(every):.2f} / {max(every):.2f} ({len(every)} probes)" if every else "-"


def _ratio(b: list[float], a: list[float]) -> str:
    ratios = [y / x for x, y in zip(a, b, strict=True)]
    return f"**{statistics.median(ratios):.2f}x** (rounds {', '.join(f'{r:.2f}' for r in ratios)})"


def _entries(tables: dict[str, dict[str, float]], projected: bool) -> tuple[float, float]:
    """Rows and index entries per decision written by the writer (projected=False) or the projector."""
    chosen = [t for t in tables if (t in PROJECTED) == projected]
    return (sum(tables[t]["rows"] for t in chosen),
            sum(tables[t]["rows"] * tables[t]["indexes"] for t in chosen))


def report(db_kind: str, a: Side, b: Side, rounds: int, base: str, tables: dict[str, dict[str, dict[str, float]]]
           ) -> str:
    a_rows = sum(v["rows"] for v in tables["A"].values())  # before, the writer wrote every table itself
    a_entries = sum(v["rows"] * v["indexes"] for v in tables["A"].values())
    b_rows, b_entries = _entries(tables["B"], False)
    p_rows, p_entries = _entries(tables["B"], True)
    a_rps = [r["rps"] for r in a.singles]
    b_rps = [r["rps"] for r in b.singles]
    layout = "; ".join(f"{side} {t} {v['rows']:.2f} rows x {v['indexes']:.0f}"
                       for side in ("A", "B") for t, v in tables[side].items())
    return "\n".join([
        f"### index behind the writer (issue 16), A/B: {db_kind}, {date.today().isoformat()}, {os.cpu_count()} "
        f"cores, {WORKERS} workers, {rounds} alternating rounds",
        "",
        f"A = the writer before (base {base}), B = this branch (reasons inline; rule, campaign and time index by "
        f"the projector). Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        "| measure | A: before | B: after | B / A |",
        "| --- | --- | --- | --- |",
        f"| rows per decision written before the answer | {a_rows:.2f} | {b_rows:.2f} | |",
        f"| index entries per decision written before the answer | {a_entries:.2f} | {b_entries:.2f} | |",
        f"| rows / index entries per decision written by the projector, behind | - | {p_rows:.2f} / {p_entries:.2f} "
        "| |",
        f"| single POST /v1/decisions, 8 connections, req/s | {_spread(a_rps)} | {_spread(b_rps)} "
        f"| {_ratio(b_rps, a_rps)} |",
        f"| p99 single, ms | {_spread([r['p99_ms'] for r in a.singles])} "
        f"| {_spread([r['p99_ms'] for r in b.singles])} | |",
        f"| batch (message + 10,000 ids), decisions/s | {_spread(a.batches)} | {_spread(b.batches)} "
        f"| {_ratio(b.batches, a.batches)} |",
        *([f"| stream ({len(b.streams) and int(b.stream_size)} lines per round), decisions/s | {_spread(a.streams)} "
           f"| {_spread(b.streams)} | {_ratio(b.streams, a.streams)} |"] if b.streams else []),
        f"| a decision's answer to its listing by reviewers (probes during the rounds), s: median / largest "
        f"| {_probed(a)} | {_probed(b)} | |",
        f"| a batch's answer to its newest decision listed under its campaign, s "
        f"| {', '.join(f'{x:.2f}' for x in a.batch_lags)} | {', '.join(f'{x:.2f}' for x in b.batch_lags)} | |",
        f"| B: largest /readyz lag_seconds (an upper bound) per round, s | | "
        f"{', '.join(f'{x:.2f}' for x in b.lag_seen)} | |",
        f"| batches answered 503 and sent again | {a.retries} | {b.retries} | |",
        f"| B: caught up after the round's last write, s | | {', '.join(f'{x:.2f}' for x in b.caught_up)} | |",
        "",
        f"Per table (rows per decision x index entries per row): {layout}.",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--base", default="028caf7", help="The commit of the writer before (A).")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stream", type=int, default=50_000, help="Lines of the stream of each round (0: none).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        a = stack.enter_context(served(Side("A", base_tree(args.base, Path(tmp))), args.db))
        b = stack.enter_context(served(Side("B", ROOT), args.db))
        a.stream_size = b.stream_size = args.stream
        measure([a, b], args.rounds, args.stream)
        tables = {"A": entries_per_decision(a.db_url), "B": entries_per_decision(b.db_url)}
        print(report(args.db, a, b, args.rounds, args.base, tables))


if __name__ == "__main__":
    main()
