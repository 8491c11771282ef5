"""Benchmark: network round trips and protocol messages per decision on PostgreSQL, counted by a TCP proxy
between Guard and the server (so nothing of Guard's own code is wrapped or changed to count).

A round trip is a turn of the conversation: the client speaks after the server has answered. The proxy also
counts the frontend messages by type: Parse (P, a statement text sent: not prepared yet, or unnamed), Bind
(B), Sync (S), Flush (H) and simple Query (Q).

Run by hand:  .venv/bin/python -m bench.roundtrips [--decisions 200] [--show]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import make_url

from bench.common import START, fresh_database, production_guard
from guard.app import Guard
from guard.core.config import Settings
from guard.decisions.service import decide, decide_batch
from guard.lifecycle.active import ActiveRules
from guard.situation.events import ingest_batch
from guard.storage.database import Database


class Proxy:
    """A counting TCP proxy in front of one PostgreSQL server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.turns = 0
        self.messages: Counter[str] = Counter()
        self.parsed: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.turns = 0
            self.messages.clear()
            self.parsed.clear()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.target)
            state = {"answered": True, "startup": True, "buffer": b"", "names": {}}
            threading.Thread(target=self._pump, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, state: dict[str, Any], frontend: bool) -> None:
        try:
            while data := source.recv(65536):
                with self.lock:
                    if frontend:
                        if state["answered"]:
                            self.turns += 1
                        state["answered"] = False
                        self._frontend(state, data)
                    else:
                        state["answered"] = True
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _frontend(self, state: dict[str, Any], data: bytes) -> None:
        buffer = state["buffer"] + data
        if state["startup"]:  # untyped startup (and SSL request) messages: length first
            if len(buffer) < 4:
                state["buffer"] = buffer
                return
            (length,) = struct.unpack("!I", buffer[:4])
            if len(buffer) < length:
                state["buffer"] = buffer
                return
            code = struct.unpack("!I", buffer[4:8])[0]
            buffer = buffer[length:]
            if code != 80877103:  # anything but an SSL request ends the startup phase
                state["startup"] = False
        while len(buffer) >= 5:
            kind = chr(buffer[0])
            (length,) = struct.unpack("!I", buffer[1:5])
            if len(buffer) < 1 + length:
                break
            body = buffer[5:1 + length]
            self.messages[kind] += 1
            if kind == "P":
                name_end = body.index(b"\0")
                query_end = body.index(b"\0", name_end + 1)
                name, text = body[:name_end].decode(), body[name_end + 1:query_end].decode()[:150]
                if name:
                    state["names"][name] = text
                self.parsed.append(f"{'prepare' if name else 'parse':>8} | {text}")
            elif kind == "B":
                portal_end = body.index(b"\0")
                name = body[portal_end + 1:body.index(b"\0", portal_end + 1)].decode()
                if name:
                    self.parsed.append(f"{'execute':>8} | {state['names'].get(name, name)}")
            elif kind in "SH":
                self.parsed.append(f"{'sync' if kind == 'S' else 'flush':>8} |")
            elif kind == "Q":
                self.parsed.append(f"{'simple':>8} | {body[:-1].decode()[:150]}")
            buffer = buffer[1 + length:]
        state["buffer"] = buffer


@contextmanager
def proxied(url: str) -> Iterator[tuple[str, Proxy]]:
    parsed = make_url(url)
    proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    yield parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy


def request(n: int, keyed: bool, customer: str) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": customer, "channel": "email", "purpose": "marketing",
                            "campaign_id": "spring", "send_at": (START.replace(month=3)).isoformat()}
    if keyed:
        body["idempotency_key"] = f"rt-{n}"
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--show", action="store_true", help="print the statements of one decision")
    args = parser.parse_args()
    with fresh_database("postgres") as url:
        production_guard(url).db.dispose()
        with proxied(url) as (via, proxy):
            db = Database(via)
            guard = Guard(Settings(database_url=via), db=db, rules=ActiveRules(db))
            events = [{"event_id": f"h-{n}", "customer_id": f"hist-{n}", "type": "purchase.completed",
                       "occurred_at": START.isoformat(), "data": {"order_id": f"O{n}"}} for n in range(50)]
            ingest_batch(guard.db, events)
            cases = {
                "single, new customer, no key": lambda n: request(n, False, f"new-{n}"),
                "single, idempotency key": lambda n: request(n, True, f"new-k-{n}"),
                "single, customer with events and decisions": lambda n: request(n, False, f"hist-{n % 50}"),
            }
            for name, make in cases.items():
                turns, messages = [], Counter[str]()
                for n in range(args.decisions):
                    proxy.reset()
                    decide(guard.db, guard.evaluator, make(n))
                    turns.append(proxy.turns)
                    messages.update(proxy.messages)
                    if args.show and n == args.decisions - 1:
                        proxy.reset()
                        decide(guard.db, guard.evaluator, make(n + 1))
                        print(f"--- {name}: the messages of one decision ({proxy.turns} round trips)")
                        print("\n".join(proxy.parsed))
                per = {k: round(v / args.decisions, 2) for k, v in sorted(messages.items())}
                print(f"{name}: round trips median {statistics.median(turns)} (min {min(turns)}, max {max(turns)});"
                      f" messages per decision {per}")
            for run in ("first", "second"):  # the first of a process also reads the tables' column types once
                proxy.reset()
                decide_batch(guard.db, guard.evaluator, [request(n, False, f"batch-{run}-{n}") for n in range(1000)])
                print(f"batch of 1,000, {run} in the process: {proxy.turns} round trips; "
                      f"messages {dict(sorted(proxy.messages.items()))}")
            db.dispose()


if __name__ == "__main__":
    main()
