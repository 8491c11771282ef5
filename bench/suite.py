"""Campaign-scale benchmarks: single decisions over HTTP (vs a bare Flask endpoint), batch, streaming,
event ingestion and worker memory, on SQLite or PostgreSQL. Results are appended to bench/RESULTS.md.

Run by hand:  .venv/bin/python -m bench.suite --db sqlite   (and --db postgres)
Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests

from bench.common import ROOT, fresh_database, situation_events
from guard.server.serve import THREADS

CUSTOMERS = 1_000_000
ROUNDS = 5
WORKERS = os.cpu_count() or 2
GUARD = [sys.executable, "-m", "guard.cli"]


@dataclass(frozen=True)
class Server:
    """A running gunicorn: its base URL and its master's pid."""

    url: str
    pid: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:  # not listening yet, or too busy starting to answer in time
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(cmd: list[str], env: dict[str, str], url: str, cwd: Path | None = None, log: Path | None = None
            ) -> Iterator[subprocess.Popen[bytes]]:
    """A started server (`log`: where its stderr goes; by default nowhere), stopped at the end."""
    with open(log or os.devnull, "ab") as errors:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
                                cwd=cwd)
    try:
        wait_up(url)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def workers_of(master: int) -> list[int]:
    """The pids of a gunicorn master's workers (its children)."""
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def worker_peak_mb(master: int) -> float:
    """The largest peak resident size (VmHWM) among the master's children."""
    peak = 0.0
    for child in workers_of(master):
        status = Path(f"/proc/{child}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peak = max(peak, int(match.group(1)) / 1024)
    return peak


def worker_cpu_seconds(master: int) -> dict[int, float]:
    """CPU time (user + system) each worker of a gunicorn master has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for child in workers_of(master):
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        used[child] = (int(fields[11]) + int(fields[12])) / tick
    return used


def wrk_cpu(url: str, key: str, master: int, seconds: int) -> dict[str, float]:
    """`wrk`, plus the workers' CPU time per request and the busiest worker's share of it.

    With a handful of keep-alive connections, the kernel may hand most of them to one worker (seen here:
    every connection on one worker, the other idle), which halves that round's throughput whatever the
    code; CPU per request does not depend on that split, so it is reported beside the throughput.
    """
    before = worker_cpu_seconds(master)
    result = wrk(url, key, seconds)
    after = worker_cpu_seconds(master)
    used = {pid: spent - before.get(pid, 0.0) for pid, spent in after.items()}
    # A worker replaced during the round (max_requests) brings its start-up into the count: no figure then.
    total = sum(used.values()) if after.keys() == before.keys() else float("nan")
    result["cpu_us"] = total / result["requests"] * 1e6
    result["busiest"] = max(used.values(), default=0.0) / total
    return result


def wrk(url: str, key: str, seconds: int = 15, connections: int = 8) -> dict[str, float]:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
               "-s", str(ROOT / "bench/decide.lua"), url]
    out = subprocess.run(command,
                         env={**os.environ, "GUARD_BENCH_KEY": key}, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests_done = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "requests": requests_done,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def ingest(base: str, key: str) -> tuple[int, float]:
    """Post the situation events of 10% of the customers in batches of 1000 from 2 clients."""
    events = situation_events(CUSTOMERS, 0.10)
    batches = [events[i:i + 1000] for i in range(0, len(events), 1000)]
    headers = {"Authorization": f"Bearer {key}"}

    def post(part: list[list[dict[str, object]]]) -> None:
        with requests.Session() as s:
            for batch in part:
                r = s.post(f"{base}/v1/events", json={"events": batch}, headers=headers, timeout=120)
                r.raise_for_status()

    started = time.perf_counter()
    threads = [threading.Thread(target=post, args=(batches[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(events), time.perf_counter() - started


def stream(base: str, key: str, recipients: int, send_at: str = "2026-03-16T10:00:00Z") -> tuple[int, float]:
    """A whole campaign through the NDJSON endpoint, body streamed in, results streamed out."""
    message = {"channel": "email", "purpose": "marketing", "campaign_id": "summer", "product_ids": ["P3"],
               "send_at": send_at}
    prefix = json.dumps(message)[:-1] + ', "customer_id": "cust-'

    def body() -> Iterator[bytes]:
        for start in range(0, recipients, 10_000):
            yield "".join(f'{prefix}{n}"}}\n' for n in range(start, min(start + 10_000, recipients))).encode()

    started = time.perf_counter()
    with requests.post(f"{base}/v1/decisions/stream", data=body(), stream=True, timeout=600,
                       headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}) as r:
        r.raise_for_status()
        count = sum(1 for line in r.iter_lines() if line)
    return count, time.perf_counter() - started


def batch(base: str, key: str, calls: int = 10, send_at: str = "2026-03-17T10:00:00Z") -> tuple[int, float]:
    """`message` + 10,000 `customer_ids` per call."""
    message = {"channel": "sms", "purpose": "marketing", "campaign_id": "autumn", "send_at": send_at}
    started = time.perf_counter()
    total = 0
    with requests.Session() as s:
        for call in range(calls):
            ids = [f"cust-{n}" for n in range(call * 10_000, (call + 1) * 10_000)]
            total += len(_post_retrying(s, f"{base}/v1/decisions/batch", key,
                                        {"message": message, "customer_ids": ids})["results"])
    return total, time.perf_counter() - started


REFUSED: list[str] = []  # every 503 a benchmark call met before it was answered (reported, never hidden)


def _post_retrying(session: requests.Session, url: str, key: str, body: dict[str, Any]) -> Any:
    """POST, and after a 503 wait as `Retry-After` says and send it again (up to 5 times), as clients should."""
    for _ in range(5):
        r = session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=300)
        if r.status_code != 503:
            break
        REFUSED.append(f"{url}: {r.text[:200]}")
        print(f"503 from {url}: {r.text[:200]}", file=sys.stderr, flush=True)
        time.sleep(min(float(r.headers.get("Retry-After", "1")), 5.0))
    r.raise_for_status()
    return r.json()


def bare_server(port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """The bare endpoint under the same gunicorn settings as `guard serve`: its gthread worker class (which
    spreads connections over the workers), as many workers and threads, the same keep-alive."""
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-k", "guard.server.serve.GuardWorker",
           "--threads", str(THREADS), "--keep-alive", "5", "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT),
           "bench.bare_app:app"]
    return process(cmd, dict(os.environ), f"http://127.0.0.1:{port}/")


def single_vs_bare(bare: Server, guard: Server, key: str) -> dict[str, Any]:
    """Bare and Guard measured in alternation (ROUNDS of 5 s each), so both see the same machine: this
    machine's speed drifts by tens of percent from one minute to the next. Two ratios per round: of
    throughputs, and of CPU cost per request (bare's over Guard's), which does not depend on how the
    kernel happened to spread the 8 connections over the workers."""
    wrk(bare.url, "", 3)
    wrk(guard.url, key, 3)
    bares, singles = [], []
    for _ in range(ROUNDS):
        bares.append(wrk_cpu(bare.url, "", bare.pid, 5))
        singles.append(wrk_cpu(guard.url, key, guard.pid, 5))
    return {"bare": _median(bares), "single": _median(singles),
            "ratios": [s["rps"] / b["rps"] for b, s in zip(bares, singles, strict=True)],
            "cpu_ratios": [b["cpu_us"] / s["cpu_us"] for b, s in zip(bares, singles, strict=True)],
            "busiest": [(b["busiest"], s["busiest"]) for b, s in zip(bares, singles, strict=True)]}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {name: _median_of([r[name] for r in runs]) for name in runs[0]}


def _median_of(values: list[float]) -> float:
    """The median of the values that were measured (a round without a figure holds NaN)."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else float("nan")


def run(db_kind: str, recipients: int, single_only: bool = False) -> dict[str, object]:
    results: dict[str, object] = {"db": db_kind, "workers": WORKERS, "recipients": recipients}
    bare_port = free_port()
    with fresh_database(db_kind) as url, bare_server(bare_port) as bare:
        env = {**os.environ, "GUARD_DATABASE_URL": url, "GUARD_RULES_DIR": str(ROOT / "rules"),
               "GUARD_LOG_LEVEL": "WARNING"}
        key = subprocess.run([*GUARD, "keys", "create", "--name", "bench", "--scope", "admin"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [*GUARD, "serve", "--port", str(port), "--workers", str(WORKERS)]
        with process(cmd, env, base + "/healthz") as server:
            results["events"] = ingest(base, key)
            results.update(single_vs_bare(Server(f"http://127.0.0.1:{bare_port}", bare.pid),
                                          Server(base, server.pid), key))
            if single_only:
                return results
            results["batch"] = batch(base, key)
            results["stream"] = stream(base, key, recipients)
            results["worker_peak_mb"] = worker_peak_mb(server.pid)
    return results


def _share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0%}"


def report(r: dict[str, object]) -> str:
    bare, single, ratios, cpu_ratios = r["bare"], r["single"], r["ratios"], r["cpu_ratios"]
    assert isinstance(ratios, list) and isinstance(cpu_ratios, list)
    busiest = ", ".join(f"{_share(b)}/{_share(g)}" for b, g in r["busiest"])  # type: ignore[attr-defined]
    assert isinstance(bare, dict) and isinstance(single, dict)
    n_events, t_events = r["events"]  # type: ignore[misc]
    n_batch, t_batch = r["batch"]  # type: ignore[misc]
    n_stream, t_stream = r["stream"]  # type: ignore[misc]
    return "\n".join([
        f"### {r['db']}: {date.today().isoformat()}, {os.cpu_count()} cores, {r['workers']} gunicorn workers",
        "",
        "| measure | result | target |",
        "| --- | --- | --- |",
        f"| bare Flask JSON endpoint (median of rounds) | {bare['rps']:,.0f} req/s, p99 {bare['p99_ms']:.1f} ms "
        "| (yardstick) |",
        f"| single POST /v1/decisions, 8 connections (median) | {single['rps']:,.0f} req/s, "
        f"p99 {single['p99_ms']:.1f} ms, non-2xx {single['non_2xx']:.0f} | |",
        f"| **ratio Guard / bare**, median of {ROUNDS} alternating rounds | **{statistics.median(ratios):.2f}** "
        f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}) | >= 0.5; p99 <= 15 ms |",
        f"| CPU per request, bare / Guard (median) | {bare['cpu_us']:,.0f} us / {single['cpu_us']:,.0f} us |  |",
        f"| ratio of CPU cost per request, bare / Guard (median of rounds) | **{_median_of(cpu_ratios):.2f}** "
        f"(rounds: {', '.join(f'{x:.2f}' for x in cpu_ratios)}) | |",
        f"| busiest worker's share of CPU per round, bare/Guard | {busiest} | (50% = even) |",
        f"| events ingested (batches of 1000, 2 clients) | {n_events:,} in {t_events:.1f} s = "
        f"{n_events / t_events:,.0f}/s | >= 10,000/s |",
        f"| batch decisions (message + 10,000 customer_ids) | {n_batch:,} in {t_batch:.1f} s = "
        f"{n_batch / t_batch:,.0f}/s | |",
        f"| streaming campaign, audited end to end | {n_stream:,} in {t_stream:.1f} s = {n_stream / t_stream:,.0f}/s "
        f"| 1,000,000 in <= 30 s |",
        f"| peak worker memory (VmHWM) | {r['worker_peak_mb']:.0f} MB | < 250 MB |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--recipients", type=int, default=CUSTOMERS)
    parser.add_argument("--no-write", action="store_true", help="Print only; do not append to bench/RESULTS.md.")
    parser.add_argument("--single-only", action="store_true",
                        help="Only the bare endpoint and single decisions (printed, never written).")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    if args.single_only:
        print(json.dumps(run(args.db, args.recipients, single_only=True), indent=1))
        return
    text = report(run(args.db, args.recipients))
    print(text)
    if not args.no_write:
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
