"""Guard's webhook HTTP client against real loopback servers: refusals, redirects, size and time bounds."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from guard.outbound.client import TargetRefused, check_target, post


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        _Handler.hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("location", "/elsewhere")
            self.send_header("content-length", "0")
            self.end_headers()
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("content-length", str(10 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(10 * 1024):
                    self.wfile.write(b"x" * 1024)
            except OSError:
                pass  # the client hung up after what it reads
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        elif self.path == "/drip":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            try:
                for _ in range(30):  # a header byte every 0.2 s: no single wait times out
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
        else:
            self.send_response(500 if self.path == "/broken" else 204)
            self.send_header("content-length", "0")
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Handler.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "http://", "//host/x",
                                 "http://user:pw@example.com/", "javascript:alert(1)", "http://[::1"])
def test_targets_other_than_http_or_https_are_refused(url: str):
    with pytest.raises(TargetRefused):
        check_target(url)
    with pytest.raises(TargetRefused):
        post(url, b"{}", {}, timeout=1)


def test_a_2xx_answer_is_delivered(base: str):
    answer = post(f"{base}/ok?x=1", b"{}", {"webhook-id": "msg_1"}, timeout=2)
    assert answer.ok and answer.status == 204 and answer.error is None
    assert _Handler.hits == ["/ok?x=1"]


def test_an_error_answer_is_not_delivered(base: str):
    answer = post(f"{base}/broken", b"{}", {}, timeout=2)
    assert not answer.ok and answer.status == 500 and "HTTP 500" in (answer.error or "")


def test_a_redirect_is_not_followed(base: str):
    answer = post(f"{base}/redirect", b"{}", {}, timeout=2)
    assert not answer.ok and answer.status == 307
    assert "redirects are not followed" in (answer.error or "")
    assert _Handler.hits == ["/redirect"]  # /elsewhere was never asked


def test_an_oversized_answer_is_cut(base: str):
    started = time.monotonic()
    answer = post(f"{base}/huge", b"{}", {}, timeout=5, max_bytes=1000)
    assert answer.ok and answer.truncated and len(answer.body) == 1000
    assert time.monotonic() - started < 3


def test_a_receiver_that_does_not_answer_in_time_fails_the_attempt(base: str):
    started = time.monotonic()
    answer = post(f"{base}/slow", b"{}", {}, timeout=0.5)
    assert not answer.ok and answer.status is None and "no answer within 0.5 s" in (answer.error or "")
    assert time.monotonic() - started < 2


def test_a_receiver_dripping_bytes_is_cut_at_the_deadline(base: str):
    started = time.monotonic()
    answer = post(f"{base}/drip", b"{}", {}, timeout=1)
    assert not answer.ok and "no answer within 1 s" in (answer.error or "")
    assert time.monotonic() - started < 2.5


def test_nobody_listening_fails_the_attempt_without_raising():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=1)
    assert not answer.ok and answer.status is None and "Connection" in (answer.error or "")


@pytest.mark.parametrize("url", ["http://exa mple.com/", "http://example.com/\r\nX-Injected: 1", "http://e\x7fx.com/"])
def test_urls_with_spaces_or_control_characters_are_refused(url: str):
    with pytest.raises(TargetRefused):
        check_target(url)


def test_a_host_that_cannot_be_encoded_fails_the_attempt_without_raising():
    answer = post("http://" + "\u00e9" * 70 + ".example/", b"{}", {}, timeout=1)
    assert not answer.ok and answer.status is None and answer.error
