"""A real HTTP receiver on loopback for webhook tests: records every request, answers as scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from guard.outbound.signing import secret_bytes, signature


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def signed_by(self, secret: str) -> bool:
        """Whether its Standard Webhooks signature verifies with `secret` (computed here, from the headers)."""
        expected = signature(secret_bytes(secret), self.headers["webhook-id"],
                             int(self.headers["webhook-timestamp"]), self.body)
        return expected in self.headers["webhook-signature"].split(" ")


@dataclass
class Receiver:
    """`answer(n)` gives the status of the n-th request (1-based); everything received is kept. With `echo` the
    answer's body is the request's (as receivers that quote what they refuse do)."""

    answer: Callable[[int], int] = lambda n: 200
    echo: bool = False
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Where to send."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        """Listen on a free loopback port in a thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:
                    status = receiver.answer(len(receiver.received) + 1)
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, status))
                reply = body if receiver.echo else b"ok"
                self.send_response(status)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def delivered(self) -> list[Received]:
        """The requests it answered with 2xx."""
        with self.lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def wait_for(self, count: int, timeout: float = 20.0, answered_ok: bool = True) -> list[Received]:
        """Until `count` requests (answered 2xx, unless `answered_ok` is False) arrived, or AssertionError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.delivered() if answered_ok else list(self.received)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} deliveries expected within {timeout} s, got {self.received}")
