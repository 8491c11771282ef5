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
_SEP = "\x1f"
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
    return sha(_SEP.join(_text(p) for p in parts))


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
    return decision_digest_with(row["decision_id"], row["customer_id"],
                                decision_tail(row, reasons, request_dig, facts_dig))


def decision_tail(row: dict[str, Any], reasons: Iterable[tuple[str, str, str]], request_dig: str,
                  facts_dig: str) -> str:
    """The part of a decision's digested text after its id and customer: the same for every customer
    given one message and verdict, so a campaign computes it once."""
    fields = [row["campaign_id"], row["channel"], row["purpose"], row["send_at"], row["outcome"], row["route"],
              row["defer_until"], row["rules_version"], row["evaluated_at"], row["idempotency_key"], request_dig,
              facts_dig]
    for rule_id, outcome, explanation in reasons:
        fields.extend((rule_id, outcome, sha(explanation)))
    return _SEP.join(_text(p) for p in fields)


def decision_digest_with(decision_id: str, customer_id: str, tail: str) -> str:
    """A decision's digest from its id, its customer and its `decision_tail`."""
    return sha(f"{decision_id}{_SEP}{customer_digest(customer_id)}{_SEP}{tail}")


def event_digest(event_id: str, customer_id: str, type_: str, occurred_at: datetime, content_hash: str,
                 received_at: datetime) -> str:
    """An event as received."""
    return _join([event_id, customer_digest(customer_id), type_, occurred_at, content_hash, received_at])


def values_digest(values: Iterable[Any]) -> str:
    """Any other audited record (rule versions, activations, keys): its fields in a fixed order."""
    return _join(values)


def link_hash(prev_hash: str, seq: int, kind: str, ref: str, at: datetime, digest: str) -> str:
    """The chained hash of one record."""
    return link_hash_at(prev_hash, seq, kind, ref, _text(at), digest)


def link_hash_at(prev_hash: str, seq: int, kind: str, ref: str, at_text: str, digest: str) -> str:
    """`link_hash` with the time already written out (many records of one call share it)."""
    return sha(f"{prev_hash}{_SEP}{seq}{_SEP}{kind}{_SEP}{ref}{_SEP}{at_text}{_SEP}{digest}")
