"""Running it for real: JSON logs with request ids and no keys, metrics summed over workers, a graceful
reload on SIGHUP, and gunicorn.conf.py under plain gunicorn."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from guard.core.config import Settings
from guard.server.serve import prepare
from tests.conftest import ROOT
from tests.faults.real import GuardServer, free_port, make_key

pytestmark = pytest.mark.slow


def _decide(base: str, token: str, request_id: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **({"X-Request-ID": request_id} if request_id else {})}
    return requests.post(f"{base}/v1/decisions", headers=headers, timeout=10,
                         json={"customer_id": "ops-c1", "channel": "email", "purpose": "transactional"})


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_logs_are_json_with_request_ids_and_never_hold_a_key(server_env: dict[str, str], served_db_url: str,
                                                             servers: Callable[..., GuardServer]):
    token = make_key(served_db_url, "decide", "read")
    server = servers(server_env)
    assert _decide(server.url, token, "trace-me-1").headers["X-Request-ID"] == "trace-me-1"
    wrong = "gk_" + "Q" * 43
    assert _decide(server.url, wrong).status_code == 401
    requests.get(f"{server.url}/v1/decisions?customer_id={token[:6]}", headers={"Authorization": f"Bearer {token}"},
                 timeout=10)
    server.stop()
    log = server.log_text()
    assert token not in log and wrong not in log and token[3:] not in log
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "access"]
    assert any(e["request_id"] == "trace-me-1" and e["path"] == "/v1/decisions" and e["status"] == 200
               for e in access)
    assert all(re.fullmatch(r"[0-9a-f]{32}|trace-me-1", e["request_id"] or "") for e in access)
    assert {"ts", "level", "logger", "message", "pid"} <= set(entries[0])


def test_metrics_add_up_over_workers_and_the_directory_is_removed(server_env: dict[str, str], served_db_url: str,
                                                                  servers: Callable[..., GuardServer]):
    token = make_key(served_db_url, "decide")
    server = servers(server_env, workers=2)
    for _ in range(12):
        requests.post(f"{server.url}/v1/decisions", json={}, timeout=10)  # 401s
        assert _decide(server.url, token).status_code == 200
    served_by = set()
    for _ in range(10):
        text = requests.get(f"{server.url}/metrics", timeout=10).text
        served_by.add(_metric(text, 'guard_decisions_total{outcome="allow",rule="exempt-transactional"}'))
        assert _metric(text, 'guard_http_errors_total{code="unauthenticated",status="401"}') == 12
    assert served_by == {12.0}  # whichever worker answers, it reports every worker's counts
    workers = {str(pid) for pid in server.worker_pids()}
    directories = {f.parent for f in Path(tempfile.gettempdir()).glob("guard-metrics-*/*.db")
                   if f.stem.rsplit("_", 1)[-1] in workers}
    assert directories
    assert server.stop() == 0
    assert not any(d.exists() for d in directories)


def test_the_reference_names_the_server_it_was_asked_at(server_env: dict[str, str],
                                                       servers: Callable[..., GuardServer]):
    """Through gunicorn: the Host a proxy forwards, and its X-Forwarded-Proto (a proxy on this machine)."""
    server = servers(server_env, workers=1)
    assert requests.get(f"{server.url}/openapi.json", timeout=10).json()["servers"][0]["url"] == server.url
    proxied = requests.get(f"{server.url}/openapi.yaml", timeout=10,
                           headers={"Host": "guard.example.com", "X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200 and proxied.headers["Content-Type"].startswith("application/yaml")
    assert "servers:\n- url: https://guard.example.com\n" in proxied.text
    docs = requests.get(f"{server.url}/docs", timeout=10)
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text


def test_sighup_reloads_workers_without_failing_a_request(server_env: dict[str, str], served_db_url: str,
                                                          servers: Callable[..., GuardServer]):
    token = make_key(served_db_url, "decide")
    server = servers(server_env, workers=2)
    before = set(server.worker_pids())
    failures: list[str] = []
    done = threading.Event()

    def keep_asking() -> None:
        while not done.is_set():
            try:
                answer = _decide(server.url, token)
                if answer.status_code != 200:
                    failures.append(answer.text)
            except requests.RequestException as exc:
                failures.append(repr(exc))

    asker = threading.Thread(target=keep_asking)
    asker.start()
    time.sleep(0.5)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while set(server.worker_pids()) & before or len(server.worker_pids()) < 2:
        assert time.monotonic() < deadline, "the workers were not replaced"
        time.sleep(0.1)
    time.sleep(0.5)
    done.set()
    asker.join(timeout=30)
    assert not failures, failures[:3]


@contextmanager
def plain_gunicorn(url: str, directory: Path, workers: int = 2) -> Iterator[tuple[str, Path]]:
    """`gunicorn -c gunicorn.conf.py guard.server.wsgi:app` as documented (no GUARD_SECRET_KEY): its base URL and
    log, once it decides; stopped with SIGTERM (it must exit cleanly)."""
    prepare(Settings(database_url=url, rules_dir=str(ROOT / "rules")))  # what `guard serve` does first
    token = make_key(url, "decide")
    port = free_port()
    env = {**os.environ, "GUARD_DATABASE_URL": url, "GUARD_RULES_DIR": str(ROOT / "rules"),
           "GUARD_BIND": f"127.0.0.1:{port}", "GUARD_WORKERS": str(workers)}
    for name in ("PROMETHEUS_MULTIPROC_DIR", "GUARD_SECRET_KEY"):
        env.pop(name, None)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    path = directory / "gunicorn.log"
    log = path.open("wb")
    proc = subprocess.Popen([str(gunicorn), "-c", str(ROOT / "gunicorn.conf.py"), "guard.server.wsgi:app"],
                            env=env, cwd=directory, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if _decide(base, token).status_code == 200 and len(_children(proc.pid)) >= workers:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, path.read_text()
            time.sleep(0.2)
        yield base, path
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def test_plain_gunicorn_with_gunicorn_conf(served_db_url: str, tmp_path: Path):
    with plain_gunicorn(served_db_url, tmp_path) as (base, _):
        assert "guard_decisions_total" in requests.get(f"{base}/metrics", timeout=10).text
    text = (tmp_path / "gunicorn.log").read_text()
    assert "Using worker: guard.server.serve.GuardWorker" in text
    assert '"logger": "access"' in text


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _signed_in_pages_on_every_worker(base: str, key: str) -> None:
    """5 console sign-ins, then 50 page loads spread over them, each on a new connection (any worker)."""
    browsers = []
    for _ in range(5):
        browser = requests.Session()
        browser.headers["Connection"] = "close"  # a new connection each time: any worker may answer
        form = browser.get(f"{base}/console/signin", timeout=10)
        found = CSRF.search(form.text)
        assert found, form.text
        signed = browser.post(f"{base}/console/signin", data={"key": key, "csrf_token": found.group(1)},
                              allow_redirects=False, timeout=10)
        assert signed.status_code == 302 and "/signin" not in signed.headers["Location"], signed.text
        browsers.append(browser)
    for i in range(50):
        page = browsers[i % 5].get(f"{base}/console/decisions", allow_redirects=False, timeout=10)
        assert page.status_code == 200, (i, page.status_code, page.headers.get("Location"))


def _pids_that_served(log: str, path: str) -> set[int]:
    entries = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return {e["pid"] for e in entries if e["logger"] == "access" and e["path"] == path}


def test_plain_gunicorn_workers_share_one_console_secret(served_db_url: str, tmp_path: Path):
    key = make_key(served_db_url, "read", name="reviewer")
    with plain_gunicorn(served_db_url, tmp_path, workers=2) as (base, log):
        _signed_in_pages_on_every_worker(base, key)
    assert len(_pids_that_served(log.read_text(), "/console/decisions")) == 2  # both workers answered


def test_guard_serve_workers_share_one_console_secret(server_env: dict[str, str], served_db_url: str,
                                                      servers: Callable[..., GuardServer]):
    # The Docker image's command: `guard serve --workers 2` without GUARD_SECRET_KEY.
    key = make_key(served_db_url, "read", name="reviewer")
    server = servers({**server_env, "GUARD_SECRET_KEY": ""}, workers=2)
    _signed_in_pages_on_every_worker(server.url, key)
    server.stop()
    assert len(_pids_that_served(server.log_text(), "/console/decisions")) == 2


def test_requests_gunicorn_refuses_are_answered_in_the_error_shape(server_env: dict[str, str],
                                                                   servers: Callable[..., GuardServer]):
    server = servers(server_env, workers=1)
    too_long = requests.get(f"{server.url}/v1/decisions?customer_id={'x' * 9000}", timeout=10)
    huge_header = requests.get(f"{server.url}/healthz", headers={"X-Filler": "y" * 9000}, timeout=10)
    for answer, status, code in ((too_long, 414, "uri_too_long"), (huge_header, 431, "headers_too_large")):
        assert answer.status_code == status
        assert answer.headers["Content-Type"] == "application/json"
        assert set(answer.json()["error"]) == {"code", "message", "details"}
        assert answer.json()["error"]["code"] == code
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
