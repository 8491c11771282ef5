"""Checking a decision's proof of inclusion (GET /v1/decisions/ID/proof) without trusting Guard's answer.

RFC 6962 §2.1 Merkle tree hash over SHA-256: leaf hash = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left ||
right); the path is checked as RFC 9162 §2.1.3.2 describes. The same code as Guard's guard/ledger/merkle.py.
"""

from __future__ import annotations

import hashlib
from typing import Any


def verify_path(leaf: str, index: int, size: int, audit_path: list[str], expected_root: str) -> bool:
    """True when `audit_path` (hex) proves the hex `leaf` is leaf `index` of the tree of `size` leaves whose
    hash is `expected_root`."""
    if not 0 <= index < size:
        return False
    try:
        node = hashlib.sha256(b"\x00" + bytes.fromhex(leaf)).digest()
        siblings = [bytes.fromhex(h) for h in audit_path]
    except ValueError:
        return False
    fn, sn = index, size - 1
    for sibling in siblings:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and node.hex() == expected_root


def verify_proof(proof: dict[str, Any]) -> bool:
    """True when the proof's leaf is in the root its chained record holds. A decision chained by a record of
    its own (`record.kind` "decision") is its own proof: the record holds its digest."""
    try:
        leaf, record = proof["leaf"], proof["record"]
        if proof["root"] != record["digest"]:
            return False
        if record["kind"] == "decision":
            return (record["ref"] == proof["decision_id"] and not proof["path"] and leaf["index"] == 0
                    and proof["tree_size"] == 1 and leaf["digest"] == record["digest"])
        return verify_path(leaf["digest"], leaf["index"], proof["tree_size"], proof["path"], proof["root"])
    except (KeyError, TypeError):
        return False
