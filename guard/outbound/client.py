"""Guard's own HTTP client for webhooks: http(s) only, no redirects, no proxies, bounded in time and size,
and optionally public addresses only.

The receiver's URL is an admin's, but what answers there is not under Guard's control: an attempt must end
within `timeout` seconds in all (a receiver dripping one byte a second included) and read at most
`max_bytes` of the answer.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Guard-Webhooks/1"


class TargetRefused(ValueError):
    """The URL is not one Guard sends to (not http or https, no host)."""


class Unresolvable(TargetRefused):
    """The URL's host name resolves to no address now."""


@dataclass(frozen=True)
class Answer:
    """What came back: the status (None when the attempt failed before one) and an error to record."""

    status: int | None
    error: str | None
    body: bytes = b""
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """A 2xx answer: delivered."""
        return self.status is not None and 200 <= self.status < 300


def check_target(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or TargetRefused."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise TargetRefused("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"Not a valid URL: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("Only http:// and https:// URLs receive webhooks.")
    if not parts.hostname:
        raise TargetRefused("The URL names no host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL must not carry a user name or password (use the signature).")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def private_target(url: str) -> str | None:
    """Why a receiver's URL names a host that is not at a public address, or None (public, or not resolvable
    now: each attempt checks again)."""
    _, host, _, _ = check_target(url)
    try:
        public_address(host)
    except Unresolvable:
        return None
    except TargetRefused as exc:
        return str(exc)
    return None


def public_address(host: str) -> str:
    """The address to connect to for `host`, when every address it resolves to is public; else TargetRefused."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} cannot be resolved: {exc}") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise Unresolvable(f"{host} resolves to no address")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope (%eth0) is no part of the address
        if not ip.is_global or ip.is_multicast:
            raise TargetRefused(f"{host} resolves to {address}, not a public address (GUARD_WEBHOOK_TARGETS=public)")
    return addresses[0]


def post(url: str, body: bytes, headers: dict[str, str], timeout: float,
         max_bytes: int = MAX_RESPONSE_BYTES, public_only: bool = False) -> Answer:
    """POST `body` once; never raises for what the receiver does (refused targets raise TargetRefused)."""
    scheme, host, port, path = check_target(url)
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    if public_only:
        _pin(connection, public_address(host))  # the port stays the URL's (see _pin)
    cut = threading.Event()
    # The socket timeout bounds each wait; this bounds the whole attempt (a receiver may drip bytes).
    watchdog = threading.Timer(timeout, _cut_off, (connection, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", path, body=body, headers={"user-agent": USER_AGENT, **headers})
        response = connection.getresponse()
        data = response.read(max_bytes + 1)
        if cut.is_set():  # the shut socket reads as a clean end: what came is not the receiver's whole answer
            return Answer(None, f"no answer within {timeout:g} s")
        return _answer(response, data[:max_bytes], len(data) > max_bytes)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a host IDNA cannot encode
        if cut.is_set() or isinstance(exc, TimeoutError | socket.timeout):
            return Answer(None, f"no answer within {timeout:g} s")
        return Answer(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
    finally:
        watchdog.cancel()
        connection.close()


def _pin(connection: http.client.HTTPConnection, address: str) -> None:
    """Connect to the address that was checked, not to whatever the name resolves to a moment later (a name
    that answers a public address to the check and a private one to the connection); TLS still verifies the
    certificate against the host name, and the Host header still names it."""
    connection._create_connection = (  # type: ignore[attr-defined]  # http.client's seam for opening the socket
        lambda target, timeout, source=None: socket.create_connection((address, target[1]), timeout, source))


def _answer(response: http.client.HTTPResponse, data: bytes, truncated: bool) -> Answer:
    status = response.status
    if 200 <= status < 300:
        return Answer(status, None, data, truncated)
    if 300 <= status < 400:
        location = response.getheader("location") or "?"
        return Answer(status, f"HTTP {status}: redirects are not followed (to {location[:300]})", data, truncated)
    return Answer(status, f"HTTP {status}: {data[:200].decode('utf-8', 'replace')}".strip(), data, truncated)


def _cut_off(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """Past the deadline: shut the socket, so whatever read or write is waiting on it ends now."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing left to cut
            sock.shutdown(socket.SHUT_RDWR)
