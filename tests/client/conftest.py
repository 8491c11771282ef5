"""A real `guard serve` for the client tests, a key for it, and a flaky proxy that fails requests on purpose."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from guard.cli import main
from tests.cli.test_serve import _free_port, _serving
from tests.conftest import RULES_DIR, fresh_postgres_database


@pytest.fixture(scope="module")
def served_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's database: PostgreSQL when the suite runs on it, else a SQLite file."""
    url = os.environ.get("GUARD_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        with fresh_postgres_database(url) as fresh:
            yield fresh
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('client') / 'guard.db'}"


def server_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a test server on the starter rules."""
    return {**os.environ, "GUARD_DATABASE_URL": db_url, "GUARD_RULES_DIR": str(RULES_DIR), **extra}


def create_key(env: dict[str, str]) -> str:
    """An API key with the scopes a sending tool needs."""
    created = CliRunner().invoke(main, ["keys", "create", "--name", "client", "--scope", "decide", "--scope",
                                        "events", "--scope", "read"], env=env)
    assert created.exit_code == 0, created.output
    return created.stdout.strip()


@pytest.fixture(scope="module")
def guard_server(served_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running `guard serve` (one worker) and an API key for it, shared by a test module."""
    env = server_env(served_db)
    key = create_key(env)
    with _serving(env, tmp_path_factory.mktemp("serve"), workers=1) as (base, _proc):
        yield base, key


class Proxy:
    """An HTTP proxy to Guard that answers the first `failures` requests itself with 503 and Retry-After."""

    def __init__(self, target: str, failures: int, retry_after: str | None = "1", cut_after: int | None = None
                 ) -> None:
        self.target = target
        self.failures = failures
        self.retry_after = retry_after
        # Cut the first stream answer off after this many lines, as a dropped connection would.
        self.cut_after = cut_after
        self.seen: list[tuple[float, str, Any]] = []
        self.lock = threading.Lock()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Record the request, then fail it or forward it."""
        raw = _read_body(handler)
        with self.lock:
            self.seen.append((time.monotonic(), handler.path, _parse(raw)))
            fail = len(self.seen) <= self.failures
        if fail:
            handler.send_response(503)
            if self.retry_after is not None:
                handler.send_header("Retry-After", self.retry_after)
            body = b'{"error": {"code": "service_unavailable", "message": "down", "details": {}}}'
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        forwarded = requests.request(handler.command, self.target + handler.path, data=raw, timeout=10,
                                     headers={k: v for k, v in handler.headers.items()
                                              if k.lower() in ("authorization", "content-type")})
        handler.send_response(forwarded.status_code)
        handler.send_header("Content-Type", forwarded.headers.get("Content-Type", "application/json"))
        if self.cut_after is not None and handler.path == "/v1/decisions/stream":
            self._cut(handler, forwarded.content)
            return
        handler.send_header("Content-Length", str(len(forwarded.content)))
        handler.end_headers()
        handler.wfile.write(forwarded.content)

    def _cut(self, handler: BaseHTTPRequestHandler, content: bytes) -> None:
        """Stream the first lines one chunk each, as Guard streams them, then drop the connection."""
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for line in content.splitlines(keepends=True)[:self.cut_after]:
            handler.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            handler.wfile.flush()
        self.cut_after = None
        handler.close_connection = True


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, whether sent with Content-Length or chunked (as a streamed upload is)."""
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""
    body = b""
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            handler.rfile.readline()
            return body
        body += handler.rfile.read(size)
        handler.rfile.readline()


def _parse(raw: bytes) -> Any:
    """A JSON body as an object, an NDJSON body as a list of objects, nothing as None."""
    if not raw:
        return None
    lines = [line for line in raw.splitlines() if line.strip()]
    return json.loads(raw) if len(lines) == 1 else [json.loads(line) for line in lines]


@contextmanager
def proxy_to(target: str, failures: int, retry_after: str | None = "1", cut_after: int | None = None
             ) -> Iterator[tuple[str, Proxy]]:
    """A running Proxy on a free local port."""
    proxy = Proxy(target, failures, retry_after, cut_after)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked answers, as Guard's stream sends them

        def do_GET(self) -> None:
            proxy.handle(self)

        def do_POST(self) -> None:
            proxy.handle(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()


def unused_port_url() -> str:
    """A local URL where nothing listens."""
    return f"http://127.0.0.1:{_free_port()}"
