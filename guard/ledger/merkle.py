"""The Merkle tree hash of RFC 6962 §2.1 over a group's leaves, their audit paths, and checking a path.

Leaves and nodes are hex SHA-256 values. leaf hash = SHA-256(0x00 || leaf), node = SHA-256(0x01 || left ||
right); a tree of n > 1 leaves splits at the largest power of two below n. Built level by level (an odd last
node is carried up unchanged), which gives the same tree and the same paths. Pure: no key, no database;
clients/python/guard_client/proofs.py holds a copy of `verify_path` for clients.
"""

from __future__ import annotations

import hashlib
from typing import Any

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 6962 leaf hash."""
    return hashlib.sha256(_LEAF + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return hashlib.sha256(_NODE + left + right).digest()


def root(leaves: list[str]) -> str:
    """The tree hash (hex) of hex leaves; the empty tree's is SHA-256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    level = [leaf_hash(bytes.fromhex(leaf)) for leaf in leaves]
    while len(level) > 1:
        level = _up(level)
    return level[0].hex()


def path(leaves: list[str], index: int) -> list[str]:
    """The audit path (hex, leaf to root) of leaf `index`: the siblings needed to recompute the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of a tree of {len(leaves)}")
    level = [leaf_hash(bytes.fromhex(leaf)) for leaf in leaves]
    out: list[str] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):  # the last node of an odd level has none: it is carried up
            out.append(level[sibling].hex())
        level, index = _up(level), index // 2
    return out


def verify_path(leaf: str, index: int, size: int, audit_path: list[str], expected_root: str) -> bool:
    """True when `audit_path` proves `leaf` is leaf `index` of the tree of `size` leaves hashing to
    `expected_root` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        return False
    try:
        node = leaf_hash(bytes.fromhex(leaf))
        siblings = [bytes.fromhex(h) for h in audit_path]
    except ValueError:
        return False
    fn, sn = index, size - 1
    for sibling in siblings:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            node = node_hash(sibling, node)
            while fn % 2 == 0 and fn != 0:  # carried-up levels: this node was the odd one out
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and node.hex() == expected_root


def _up(level: list[bytes]) -> list[bytes]:
    """The next level: adjacent pairs hashed, an odd last node carried up."""
    pairs = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        pairs.append(level[-1])
    return pairs


def verify_proof(proof: dict[str, Any]) -> bool:
    """True when a proof (GET /v1/decisions/ID/proof) shows its leaf in the chained record it names: the
    path leads from the leaf to the root, and the record holds that root. A decision chained by a record of
    its own (before issue 16, or kept by a purge) is its own proof: the record holds its digest."""
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
