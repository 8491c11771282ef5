"""Digests of audited content, computed the same way when a record is written and when it is verified.

Personal data enters a digest only through `customer_digest`, so pseudonymising a customer (replacing the
id with `erased:<digest>`) leaves every digest, and so the chain, verifiable.

The chain links and customer digests are HMAC-SHA256 under the audit key (GUARD_AUDIT_KEY), which lives
outside the database: whoever can write to the database but does not hold the key cannot re-chain it.
The key is set once per process (`use_key`, from Settings); records chained before keying ("legacy") are
verified with the plain SHA-256 forms kept below.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from guard.core.config import DEV_AUDIT_KEY
from guard.core.timeutil import iso

ERASED_PREFIX = "erased:"
_SEP = "\x1f"
GENESIS = "0" * 64
_BLOCK = 64  # SHA-256's block size: HMAC pads (or first hashes) the key to it


def sha(text: str) -> str:
    """SHA-256 hex of a text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class _Key:
    """The process's audit key as the two SHA-256 states HMAC starts from (RFC 2104): each use copies them,
    which costs half of `hmac.HMAC.copy()` on the decision hot path (two keyed hashes per decision)."""

    inner = hashlib.sha256()
    outer = hashlib.sha256()
    key_id = ""


def use_key(key: bytes) -> None:
    """Set the audit key of this process (Settings.audit_key); every later digest uses it."""
    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
    _Key.inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    _Key.outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    _Key.key_id = keyed("guard-audit-key-id")[:16]


def keyed(text: str) -> str:
    """HMAC-SHA256 hex of a text under the audit key (equal to `hmac.new(key, text, sha256).hexdigest()`)."""
    inner = _Key.inner.copy()
    inner.update(text.encode("utf-8", "surrogatepass"))
    outer = _Key.outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


def key_id() -> str:
    """A short public name of the audit key in use (an HMAC of a constant), to tell keys apart."""
    return _Key.key_id


def customer_digest(customer_id: str, legacy: bool = False) -> str:
    """The customer as the chain knows them (keyed, so a guessable id cannot be found from it); an erased
    customer's id already is this digest. `legacy`: the plain SHA-256 of records chained before keying."""
    if customer_id.startswith(ERASED_PREFIX):
        return customer_id[len(ERASED_PREFIX):]
    return sha(customer_id) if legacy else keyed("customer" + _SEP + customer_id)


def pseudonym(customer_id: str) -> str:
    """What replaces a customer id on erasure (keyed: the id cannot be guessed back from it)."""
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
                    facts_dig: str, legacy: bool = False) -> str:
    """Everything a decision's audit record says, personal data only as the customer digest."""
    return decision_digest_with(row["decision_id"], row["customer_id"],
                                decision_tail(row, reasons, request_dig, facts_dig),
                                row["api_key_name"], row["request_hash"], legacy)


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


def decision_digest_with(decision_id: str, customer_id: str, tail: str, key_name: str | None,
                         request_hash: str, legacy: bool = False) -> str:
    """A decision's digest from its id, its customer, who asked (the API key's name), the stored request
    hash and its `decision_tail`. `legacy`: the form chained before keying (without who asked)."""
    if legacy:
        return sha(f"{decision_id}{_SEP}{customer_digest(customer_id, True)}{_SEP}{tail}")
    asked = "-" if key_name is None else "=" + key_name  # no key and an empty name differ
    return sha(f"{decision_id}{_SEP}{customer_digest(customer_id)}{_SEP}{asked}{_SEP}{request_hash}{_SEP}{tail}")


def leaf_digest(group: int, index: int, digest: str) -> str:
    """A decision's leaf in its group's Merkle tree: its digest bound, under the audit key, to its place
    (group and index), so a decision altered, moved or swapped is named by its own leaf."""
    return keyed(f"decision-leaf{_SEP}{group}{_SEP}{index}{_SEP}{digest}")


def event_digest(event_id: str, customer_id: str, type_: str, occurred_at: datetime, content_hash: str,
                 received_at: datetime, legacy: bool = False) -> str:
    """An event as received."""
    return _join([event_id, customer_digest(customer_id, legacy), type_, occurred_at, content_hash, received_at])


def values_digest(values: Iterable[Any]) -> str:
    """Any other audited record (rule versions, activations, keys): its fields in a fixed order."""
    return _join(values)


def files_digest(files: Iterable[dict[str, str]]) -> str:
    """Stored rule files, each by its name and the full SHA-256 of its text, in stored order."""
    return _join(part for f in files for part in (f["name"], sha(f["text"])))


def erasure_digest(erasure_id: int, digest: str, event_ids: list[str], decisions: int, created_at: datetime,
                   legacy: bool = False, left: str = "") -> str:
    """An erasure's account: whose, which events it removed (by id, so none can be added), how many
    decisions, when, and (`left`) the digest of the decisions it scrubbed and the markers it left."""
    tail = [left] if left else []
    if legacy:
        return _join([erasure_id, digest, len(event_ids), decisions, *tail])
    return _join([erasure_id, digest, len(event_ids), decisions, created_at, _join(event_ids), *tail])


def purge_digest(upto_seq: int, upto_hash: str, before: datetime, created_at: datetime, counts: dict[str, Any],
                 legacy: bool = False) -> str:
    """A purge checkpoint: where the chain now starts, the date it purged before, when, and what it removed."""
    if legacy:
        return _join([upto_seq, upto_hash, before])
    return _join([upto_seq, upto_hash, before, created_at, json.dumps(counts, sort_keys=True)])


def link_hash(prev_hash: str, seq: int, kind: str, ref: str, at: datetime, digest: str,
              legacy: bool = False) -> str:
    """The chained hash of one record (`legacy`: the unkeyed SHA-256 of records chained before keying)."""
    text = f"{prev_hash}{_SEP}{seq}{_SEP}{kind}{_SEP}{ref}{_SEP}{_text(at)}{_SEP}{digest}"
    return sha(text) if legacy else keyed(text)


def link_hash_at(prev_hash: str, seq: int, kind: str, ref: str, at_text: str, digest: str) -> str:
    """`link_hash` with the time already written out (many records of one call share it)."""
    return keyed(f"{prev_hash}{_SEP}{seq}{_SEP}{kind}{_SEP}{ref}{_SEP}{at_text}{_SEP}{digest}")


def epoch_digest(seq: int) -> str:
    """The epoch record's content: where keyed records begin, and under which key."""
    return values_digest(["keyed-epoch", seq, key_id()])


def head_signature(seq: int, hash_: str, at: str) -> str:
    """The signature of an exported chain head (`guard audit head`)."""
    return keyed(f"guard-audit-head{_SEP}{seq}{_SEP}{hash_}{_SEP}{at}")


use_key(DEV_AUDIT_KEY)
