"""Clients that keep posting through faults: every request is retried as is (same event id, same idempotency
key) on connection errors and 5xx answers, and what the server acknowledged is recorded."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests


@dataclass
class Ledger:
    """What the clients were told: acknowledged events and decisions, and how often requests were retried."""

    events: dict[str, str] = field(default_factory=dict)  # event_id → customer_id
    decisions: dict[str, list[str]] = field(default_factory=dict)  # idempotency key → decision ids received
    retried: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)  # answers that are neither success nor retryable
    lock: threading.Lock = field(default_factory=threading.Lock)


def iso(when: datetime) -> str:
    """UTC with Z."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def send(base: str, token: str, path: str, body: dict[str, Any], deadline: float, ledger: Ledger, tag: str
         ) -> requests.Response | None:
    """POST until a non-5xx answer or the deadline; None when the deadline passed first."""
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        if attempts == 2:
            with ledger.lock:
                ledger.retried.add(tag)
        try:
            response = requests.post(f"{base}{path}", json=body, timeout=10,
                                     headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException:
            time.sleep(0.05)
            continue
        if response.status_code >= 500:
            time.sleep(0.05)
            continue
        return response
    return None


def client(base: str, token: str, customer: str, operations: int, deadline: float, ledger: Ledger,
           pause: float = 0.01) -> None:
    """Alternate complaint events and keyed marketing decisions for `customer`."""
    opened = datetime.now(UTC) - timedelta(days=1)
    for n in range(operations):
        if time.monotonic() > deadline:
            return
        if n % 2 == 0:
            event_id = f"{customer}-ev-{n}-{uuid.uuid4().hex[:6]}"
            body = {"event_id": event_id, "customer_id": customer, "type": "complaint.opened",
                    "occurred_at": iso(opened + timedelta(seconds=n)), "data": {"case_id": event_id}}
            response = send(base, token, "/v1/events", body, deadline, ledger, event_id)
            _record_event(ledger, response, event_id, customer)
        else:
            key = f"{customer}-idem-{n}-{uuid.uuid4().hex[:6]}"
            body = {"customer_id": customer, "channel": "email", "purpose": "service", "idempotency_key": key}
            response = send(base, token, "/v1/decisions", body, deadline, ledger, key)
            _record_decision(ledger, response, key)
        time.sleep(pause)


def _record_event(ledger: Ledger, response: requests.Response | None, event_id: str, customer: str) -> None:
    if response is None:
        return
    with ledger.lock:
        if response.status_code in (200, 201):
            ledger.events[event_id] = customer
        else:
            ledger.failures.append(f"event {event_id}: {response.status_code} {response.text[:200]}")


def _record_decision(ledger: Ledger, response: requests.Response | None, key: str) -> None:
    if response is None:
        return
    with ledger.lock:
        if response.status_code == 200:
            ledger.decisions.setdefault(key, []).append(response.json()["decision_id"])
        else:
            ledger.failures.append(f"decision {key}: {response.status_code} {response.text[:200]}")


def run_clients(base: str, token: str, customers: list[str], operations: int, seconds: float, ledger: Ledger
                ) -> list[threading.Thread]:
    """Start one client thread per customer; join them to wait."""
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(base, token, c, operations, deadline, ledger), daemon=True)
               for c in customers]
    for thread in threads:
        thread.start()
    return threads
