"""`guard serve`: gunicorn run from Python, with the schema and rules checked in the master before forking."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker
from sqlalchemy.exc import SQLAlchemyError

from guard.app import Guard
from guard.core.config import Settings
from guard.core.logs import logging_config
from guard.ledger.digests import use_key
from guard.policy.ruleset import rules_directory
from guard.server.balance import Board
from guard.storage.database import Database
from guard.storage.migrations import upgrade

if TYPE_CHECKING:
    from guard.outbound.worker import Deliverer

log = logging.getLogger("guard.server.serve")


def resolved(settings: Settings) -> Settings:
    """Settings whose rules directory is absolute, so every worker loads exactly what the master checked."""
    return dataclasses.replace(settings, rules_dir=str(rules_directory(settings.rules_dir).resolve()))


def with_secret(settings: Settings) -> Settings:
    """Settings with a console secret: GUARD_SECRET_KEY, else one made now so every worker signs alike."""
    if settings.secret_key:
        return settings
    return dataclasses.replace(settings, secret_key=secrets.token_urlsafe(32))


def prepare(settings: Settings) -> int | str:
    """In the master, before forking: migrate the database and activate the rule files; the active version."""
    use_key(settings.audit_key)  # before migrating: a migration may chain a record
    upgrade(settings.database_url)
    guard = Guard(settings)
    try:
        # Checks and tests the files and records them as the active version once, not once per worker.
        return guard.seed_rules()
    finally:
        guard.db.dispose()


# A campaign stream allocates tens of millions of short-lived objects: with Python's default threshold
# (700) the collector runs constantly and its full passes rescan everything the worker ever loaded.
GC_THRESHOLD = (50_000, 20, 20)


def settle_garbage_collector() -> None:
    """After the app is loaded: keep what is loaded out of every collection, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


class GuardApplication(BaseApplication):
    """gunicorn with options from `guard serve`; each worker builds its own Guard after the fork."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options instead of gunicorn's command line and config file."""
        for name, value in self.options.items():
            # Options of newer gunicorn releases only (control_socket_disable) are skipped on older ones.
            if name in self.cfg.settings:
                self.cfg.set(name, value)

    def load(self) -> Any:
        """Called in each worker after fork: durable-rules state must not be shared between processes."""
        from guard.web.factory import create_app

        guard = Guard(self.settings)
        try:
            # Compile the active rules now: a worker whose rules do not compile fails to boot.
            guard.evaluator  # noqa: B018
        except SQLAlchemyError as exc:
            # But an unreachable database must not stop the worker, or gunicorn halts the whole server:
            # requests answer 503 until the database is back, and the rules load then.
            log.warning("database unavailable while booting (%s); rules load on the first request",
                        type(exc).__name__)
        app = create_app(guard=guard)
        guard.start_hold_worker()  # background: releases and expiries of held messages (issue 15)
        guard.start_projector()  # background: the reviewers' index, one worker of all at a time (issue 16)
        settle_garbage_collector()
        return app


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind syntax (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


# Threads per worker: the rule engine holds the GIL while it evaluates, so threads add no CPU; they let a
# worker go on answering while one of its requests waits for the database or streams a long campaign.
THREADS = 4
MAX_WORKERS = 16


def default_workers() -> int:
    """One worker per usable core (at least 2, so a killed worker never leaves nobody answering).

    Not gunicorn's 2 x cores + 1: that suits sync workers that mostly wait on I/O; Guard's requests are CPU
    bound in the rule engine, and each worker's threads already cover the waits.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(2, min(cores, MAX_WORKERS))


def options(host: str, port: int, workers: int, log_level: str = "INFO", log_format: str = "json") -> dict[str, Any]:
    """The gunicorn settings Guard runs with (gunicorn.conf.py applies the same ones)."""
    return {
        "bind": [bind_address(host, port)],
        "workers": workers,
        # gthread: the master's timeout watches each worker's main loop, not each request, so a
        # POST /v1/decisions/stream of a million lines is never killed half-way.
        "worker_class": "guard.server.serve.GuardWorker",
        "threads": THREADS,
        "proc_name": "guard",
        # A worker whose main loop is stuck this long (a hung engine call) is killed and replaced.
        "timeout": 60,
        # SIGTERM and SIGHUP let in-flight requests finish for this long before workers are stopped.
        "graceful_timeout": 30,
        # Behind a load balancer, connections are reused; idle ones are closed after this.
        "keepalive": 5,
        # gunicorn's largest request line: filters of long customer ids fit; longer ones get a JSON 414.
        "limit_request_line": 8190,
        # Workers are replaced now and then (staggered), which returns what the rule engine's C heap holds.
        "max_requests": 50_000,
        "max_requests_jitter": 5_000,
        # The app is loaded in each worker, never in the master (see GuardApplication.load).
        "preload_app": False,
        "logconfig_dict": logging_config(log_level, log_format),
        **({"logger_class": JsonAccessLogger} if log_format == "json" else {}),
        "when_ready": announce,
        "child_exit": worker_exited,
        # The control socket lives at one path in $HOME: two Guards on one machine would fight over it.
        "control_socket_disable": True,
    }


# Requests gunicorn refuses before Guard sees them (a request line or headers too long, a malformed request)
# are answered in Guard's error shape too.
GUNICORN_ERROR_CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
                        431: "headers_too_large", 501: "not_implemented"}


def write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's error page, as {"error": {code, message, details}} instead of HTML."""
    code = GUNICORN_ERROR_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    text = f"{reason}: {message}" if message and status < 500 else reason
    body = json.dumps({"error": {"code": code, "message": text, "details": {}}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\n"
            f"X-Request-ID: {uuid.uuid4().hex}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


_BOARD: Board | None = None


def _board(workers: int) -> Board:
    """This master's connection board, made before its first fork so that every worker shares it."""
    global _BOARD
    if _BOARD is None or _BOARD.owner != os.getpid():
        _BOARD = Board(max(2 * workers, 8))  # room for replacements starting while old workers stop
    return _BOARD


def start_deliveries(settings: Settings) -> Deliverer:
    """The outbound webhook worker of this process, on a connection pool of its own (requests never wait for it)."""
    # Imported here, in the worker: the metrics it counts must be made after PROMETHEUS_MULTIPROC_DIR is set.
    from guard.outbound.delivery import Policy
    from guard.outbound.worker import Deliverer

    db = Database(settings.database_url, timeout=settings.db_timeout, synchronous=settings.sqlite_synchronous)
    policy = Policy(settings.webhook_timeout, settings.webhook_backoff, settings.webhook_retry_for,
                    public_only=settings.webhooks_public_only)
    return Deliverer(db, settings.audit_key, policy, settings.webhook_poll_interval).start()


class GuardWorker(ThreadWorker):
    """gunicorn's gthread worker, answering the requests gunicorn itself refuses in Guard's JSON shape, taking no
    more than its share of connections (see guard.server.balance), and delivering outbound webhooks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._board = _board(self.cfg.workers)  # constructed in the master, before the fork
        self._slot: int | None = None
        self._holding_back = False
        self._deliverer: Deliverer | None = None

    def load_wsgi(self) -> None:
        """Load the app, then start this worker's webhook deliveries (after the fork: threads do not survive one)."""
        super().load_wsgi()
        settings = getattr(self.app, "settings", None)  # `guard serve`'s; under gunicorn.conf.py, GUARD_* again
        self._deliverer = start_deliveries(settings if isinstance(settings, Settings) else Settings.from_env())

    def run(self) -> None:
        """Serve; when stopping, let the webhook round in flight finish and record its answers."""
        try:
            super().run()
        finally:
            if self._deliverer is not None:
                self._deliverer.stop(timeout=self._deliverer.policy.timeout + 2)

    def init_process(self) -> None:
        """Swap gunicorn's HTML error writer for ours in this worker, take a place on the board, then run."""
        gunicorn_util.write_error = write_json_error
        self._slot = self._board.claim(os.getpid())
        try:
            super().init_process()
        finally:
            if self._slot is not None:
                self._board.release(self._slot)

    def set_accept_enabled(self, enabled: bool) -> None:
        """Accept new connections only while not holding more than this worker's share of them."""
        fair = self._slot is None or self._board.may_accept(self._slot, self.nr_conns)
        self._holding_back = enabled and not fair
        super().set_accept_enabled(enabled and fair)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """One turn of the worker's loop, with the share looked at again first (counts move every turn)."""
        # Only while gunicorn wants connections: it turns accepting off itself when full or stopping
        # (after the master died, too, when `alive` is still true).
        if self._accepting or self._holding_back:
            self.set_accept_enabled(True)
        # While holding back, look again soon: the others may catch up without this worker seeing an event.
        super().wait_for_and_dispatch_events(min(timeout, 0.05) if self._holding_back else timeout)


class JsonAccessLogger(Logger):
    """gunicorn's logger with one JSON object per request in the access log (never a header's value)."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """Log one answered request."""
        if not self.access_log_enabled:
            return
        headers = {name.lower(): value for name, value in (resp.headers or [])}
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": "info",
            "logger": "access",
            "request_id": headers.get("x-request-id"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "remote": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info(json.dumps(entry, ensure_ascii=False))
        except Exception:  # a log line must never fail a request
            self.error("access log failed")


def worker_exited(server: Arbiter, worker: Any) -> None:
    """A dead worker's live gauges must not be summed with the living (counters stay: they are history)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


@contextmanager
def metrics_directory() -> Iterator[str]:
    """PROMETHEUS_MULTIPROC_DIR for the workers: the operator's, or a temporary one removed at exit."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        yield given
        return
    directory = tempfile.mkdtemp(prefix="guard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    owner = os.getpid()
    try:
        yield directory
    finally:
        # Workers are forked inside this block and unwind it when they exit: only the master cleans up.
        if os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def config_file_settings(environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """gunicorn.conf.py's settings: those of `guard serve`, bound to GUARD_BIND, with GUARD_WORKERS workers,
    and a console secret shared by the workers (GUARD_SECRET_KEY, else one made now in the master)."""
    env = os.environ if environ is None else environ
    if not env.get("GUARD_SECRET_KEY"):
        # The workers inherit the master's environment: one console secret for all of them (and for the
        # workers of a SIGHUP reload, which runs this file again in the same master).
        env["GUARD_SECRET_KEY"] = secrets.token_urlsafe(32)
    settings = Settings.from_env(dict(env))
    out = options("127.0.0.1", 8080, int(env.get("GUARD_WORKERS") or default_workers()), settings.log_level,
                  settings.log_format)
    out["bind"] = [env.get("GUARD_BIND") or "127.0.0.1:8080"]
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Set before any worker imports prometheus_client; SIGHUP reloads run this file again and reuse it.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_OWNED] = tempfile.mkdtemp(prefix="guard-metrics-")
    if os.environ.get(_OWNED) == os.environ["PROMETHEUS_MULTIPROC_DIR"]:
        out["on_exit"] = _remove_metrics_directory
    return out


_OWNED = "GUARD_METRICS_DIR_CREATED"


def _remove_metrics_directory(server: Arbiter) -> None:
    shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)


def announce(server: Arbiter) -> None:
    """Print where Guard listens once the sockets are bound (the real port, even for --port 0)."""
    for listener in server.LISTENERS:
        print(f"Guard is listening on {listener}", flush=True)
    settings = getattr(server.app, "settings", None)
    log.info("workers: %s x %s threads, rules: %s", server.cfg.workers, server.cfg.threads,
             getattr(settings, "rules_dir", None))


def run(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve until stopped (SIGTERM or SIGINT stop gracefully); gunicorn exits the process on failure."""
    # Made in the master, before forking: a session signed by one worker is accepted by every other.
    settings = with_secret(settings)
    with metrics_directory():
        GuardApplication(settings, options(host, port, workers, settings.log_level, settings.log_format)).run()
    sys.exit(0)
