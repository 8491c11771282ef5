"""Digests of audited content, computed the same way when a record is written and when it is verified.

Personal data enters a digest only through `customer_digest`, so pseudonymising a customer (replacing the
id with `erased:<digest>`) leaves every digest, and so the chain, verifiable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from guard.timeutil import iso

ERASED_PREFIX = "erased:"
GENESIS = "0" * 64


def sha(text: str) -> str:
    """SHA-256 hex of a text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def customer_digest(customer_id: str) -> str:
    """The customer as the chain knows them; an erased customer's id already is this digest."""
    if customer_id.startswith(ERASED_PREFIX):
        return customer_id[len(ERASED_PREFIX):]
    return sha(customer_id)


def pseudonym(customer_id: str) -> str:
    """What replaces a customer id on erasure."""
    return ERASED_PREFIX + customer_digest(customer_id)


def _text(part: Any) -> str:
    if part is None:
        return ""
    return (iso(part) or "") if isinstance(part, datetime) else str(part)


def _join(parts: Iterable[Any]) -> str:
    return sha("\x1f".join(_text(p) for p in parts))


def request_digest(request: dict[str, Any]) -> str:
    """The stored request without its personal identifier."""
    rest = {k: v for k, v in request.items() if k != "customer_id"}
    return sha(json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def facts_digest(facts_text: str) -> str:
    """The facts as stored (compact JSON text)."""
    return sha(facts_text)


def facts_text(facts: Any) -> str:
    """The one serialisation of facts that is stored and digested."""
    return json.dumps(facts, separators=(",", ":"))


def decision_digest(row: dict[str, Any], reasons: Iterable[tuple[str, str, str]], request_dig: str,
                    facts_dig: str) -> str:
    """Everything a decision's audit record says, personal data only as the customer digest."""
    fields = [row["decision_id"], customer_digest(row["customer_id"]), row["campaign_id"], row["channel"],
              row["purpose"], row["send_at"], row["outcome"], row["route"], row["defer_until"],
              row["rules_version"], row["evaluated_at"], row["idempotency_key"], request_dig, facts_dig]
    for rule_id, outcome, explanation in reasons:
        fields.extend((rule_id, outcome, sha(explanation)))
    return _join(fields)


def event_digest(event_id: str, customer_id: str, type_: str, occurred_at: datetime, content_hash: str,
                 received_at: datetime) -> str:
    """An event as received."""
    return _join([event_id, customer_digest(customer_id), type_, occurred_at, content_hash, received_at])


def values_digest(values: Iterable[Any]) -> str:
    """Any other audited record (rule versions, activations, keys): its fields in a fixed order."""
    return _join(values)


def link_hash(prev_hash: str, seq: int, kind: str, ref: str, at: datetime, digest: str) -> str:
    """The chained hash of one record."""
    return _join([prev_hash, seq, kind, ref, at, digest])
