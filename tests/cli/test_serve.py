"""`guard serve`: fails fast on broken rules; the real thing (gunicorn, 2 workers) answers over a socket."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from guard.cli import main
from tests.cli.conftest import Invoke
from tests.cli.test_rules import BROKEN, GOOD
from tests.conftest import RULES_DIR, wait_until_up
from tests.faults.real import worker_of_connections


def test_serve_refuses_broken_rules_before_starting(invoke: Invoke, tmp_path: Path):
    (tmp_path / "broken.yaml").write_text(BROKEN)
    result = invoke("serve", "--port", "0", env={"GUARD_RULES_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "broken.yaml:5:9: [typo] unknown field" in result.output
    assert "nothing was started" in result.output


def test_serve_refuses_rules_whose_own_tests_fail(invoke: Invoke, tmp_path: Path):
    (tmp_path / "good.yaml").write_text(GOOD.replace("expect: {outcome: allow}", "expect: {outcome: block}"))
    result = invoke("serve", "--port", "0", env={"GUARD_RULES_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "FAIL good.yaml:14 email marketing is allowed" in result.output


def test_serve_options_are_checked(invoke: Invoke):
    assert invoke("serve", "--workers", "0").exit_code == 2
    assert invoke("serve", "--port", "70000").exit_code == 2


def _guard_command() -> list[str]:
    """The installed `guard` script next to this Python, else the module."""
    script = Path(sys.executable).parent / "guard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "guard.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(env: dict[str, str], cwd: Path, workers: int = 2) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`guard serve` on a free port until it answers /healthz; stopped with SIGTERM afterwards."""
    port = _free_port()
    log = (cwd / "serve.log").open("w")
    proc = subprocess.Popen([*_guard_command(), "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=log, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, cwd / "serve.log")
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@pytest.mark.slow
def test_real_server_with_two_workers(server_db_url: str, tmp_path: Path):
    env = {**os.environ, "GUARD_DATABASE_URL": server_db_url, "GUARD_RULES_DIR": str(RULES_DIR)}
    # As on a fresh machine: the key is created before the server ever ran.
    created = CliRunner().invoke(main, ["keys", "create", "--name", "it", "--scope", "decide", "--scope", "events",
                                        "--scope", "read"], env=env)
    assert created.exit_code == 0, created.output
    auth = {"Authorization": f"Bearer {created.stdout.strip()}"}
    opened = datetime.now(UTC) - timedelta(days=2)
    with _serving(env, tmp_path) as (base, proc):
        health = requests.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert requests.post(f"{base}/v1/decisions", json={}, timeout=5).status_code == 401
        event = {"event_id": "srv-1", "customer_id": "srv-c1", "type": "complaint.opened",
                 "occurred_at": _iso(opened), "data": {"case_id": "K-77"}}
        posted = requests.post(f"{base}/v1/events", json=event, headers=auth, timeout=10)
        assert posted.status_code == 201, posted.text
        # Several decisions, so both workers (each with its own engine) answer some of them.
        answers = [requests.post(f"{base}/v1/decisions", headers=auth, timeout=10,
                                 json={"customer_id": "srv-c1", "channel": "email", "purpose": "marketing"})
                   for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 6, answers[0].text
        body = answers[0].json()
        assert body["outcome"] == "reroute"
        assert body["route"] == "care"
        assert body["reasons"][0]["rule_id"] == "care-first"
        assert "K-77" in body["reasons"][0]["explanation"]
        audit = requests.get(f"{base}/v1/decisions/{body['decision_id']}", headers=auth, timeout=10)
        assert audit.status_code == 200
        assert audit.json()["outcome"] == "reroute"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        assert f"Guard is listening on {base}" in proc.stdout.read()


def test_serve_uses_the_installed_starter_pack_when_there_is_no_rules_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from guard.core.config import Settings
    from guard.policy.ruleset import STARTER_RULES
    from guard.server.serve import resolved

    monkeypatch.chdir(tmp_path)
    assert Path(str(resolved(Settings()).rules_dir)) == STARTER_RULES.resolve()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "own.yaml").write_text(GOOD)
    assert Path(str(resolved(Settings()).rules_dir)) == (tmp_path / "rules").resolve()


def test_bind_address_brackets_ipv6():
    from guard.server.serve import bind_address

    assert bind_address("0.0.0.0", 8080) == "0.0.0.0:8080"
    assert bind_address("::1", 8080) == "[::1]:8080"



@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_keep_alive_connections_are_spread_over_the_workers(tmp_path: Path):
    """A client's few keep-alive connections do not all land on one worker (which would leave a core idle)."""
    env = {**os.environ, "GUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}", "GUARD_RULES_DIR": str(RULES_DIR)}
    with _serving(env, tmp_path) as (base, proc):
        time.sleep(2)  # both workers loaded the app (the first one answered already)
        port = int(base.rsplit(":", 1)[1])
        # Opened all at once, as a client's pool or a load balancer does: that is when one worker took them all.
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(8)]
        for conn in connections:
            conn.connect()
        for conn in connections:
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b'{"status":"ok"}\n'
        owners = worker_of_connections(proc.pid, port, [c.sock.getsockname()[1] for c in connections])
        for conn in connections:
            conn.close()
    spread = sorted(Counter(owners).values())
    assert len(spread) == 2 and spread[0] >= 3, f"connections per worker: {spread}"
