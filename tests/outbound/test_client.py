"""Guard's webhook HTTP client against real loopback servers: refusals, redirects, size and time bounds."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from guard.outbound.client import TargetRefused, check_target, post, public_address


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


def _found(address: str, port: int = 443) -> tuple[Any, ...]:
    """One getaddrinfo answer for `address`."""
    return (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


def test_public_only_refuses_loopback_before_connecting(base: str):
    with pytest.raises(TargetRefused, match=re.escape("127.0.0.1, not a public address")):
        post(f"{base}/ok", b"{}", {}, timeout=2, public_only=True)
    with pytest.raises(TargetRefused, match="not a public address"):
        post(base.replace("127.0.0.1", "localhost") + "/ok", b"{}", {}, timeout=2, public_only=True)
    assert _Handler.hits == []
    assert post(f"{base}/ok", b"{}", {}, timeout=2).ok  # the default sends to any host


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.9", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
                                     "fd00::1", "fe80::1%eth0", "::ffff:127.0.0.1", "224.0.0.1"])
def test_a_name_resolving_to_any_address_that_is_not_public_is_refused(monkeypatch, address: str):
    # A public address first and the other one after: every address must be public, not just the first.
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [_found("93.184.216.34"), _found(address)])
    with pytest.raises(TargetRefused, match=re.escape(f"{address}, not a public address")):
        public_address("hooks.example")


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    answers = iter([[_found("93.184.216.34", 80)]])
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: next(answers))  # a second look would fail
    dialled: list[tuple[str, int]] = []

    def dial(target: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        dialled.append(target)
        raise ConnectionRefusedError("not on this machine")

    monkeypatch.setattr(socket, "create_connection", dial)
    answer = post("http://hooks.example/guard", b"{}", {}, timeout=2, public_only=True)
    assert not answer.ok and "ConnectionRefusedError" in (answer.error or "")
    assert dialled == [("93.184.216.34", 80)]  # not the name, which could now resolve elsewhere
