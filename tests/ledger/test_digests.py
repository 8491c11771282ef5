"""Digests in parts and keyed digests: exactly what verification recomputes."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from guard.core.config import DEV_AUDIT_KEY
from guard.ledger.digests import (
    decision_digest,
    decision_digest_with,
    decision_tail,
    keyed,
    link_hash,
    link_hash_at,
    use_key,
)


def test_a_decision_digest_in_parts_is_the_digest_verification_recomputes():
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    row = {"decision_id": "d-1", "customer_id": "cust-1", "campaign_id": None, "channel": "email",
           "purpose": "marketing", "send_at": at, "outcome": "defer", "route": None, "defer_until": at,
           "rules_version": "3", "evaluated_at": at, "idempotency_key": "k", "api_key_name": "crm",
           "request_hash": "h" * 64}
    reasons = [("quiet-hours", "defer", "Not at night.")]
    tail = decision_tail(row, reasons, "r" * 64, "f" * 64)
    whole = decision_digest(row, reasons, "r" * 64, "f" * 64)
    assert decision_digest_with("d-1", "cust-1", tail, "crm", "h" * 64) == whole
    assert decision_digest_with("d-2", "cust-1", tail, "crm", "h" * 64) != whole
    assert link_hash_at("p", 7, "decision", "d-1", "2026-03-10T12:00:00Z", "x") == link_hash(
        "p", 7, "decision", "d-1", at, "x")


@pytest.mark.parametrize("key", [b"k" * 32, b"x" * 64, bytes(range(200)), "sch\u00fcssel-".encode() * 8])
def test_keyed_digests_are_hmac_sha256_under_the_audit_key(key):
    """The hot path's precomputed HMAC states give exactly the standard HMAC, for keys up to and beyond a block."""
    try:
        use_key(key)
        for text in ("", "customer\x1fann", "\u00e9" * 500):
            assert keyed(text) == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    finally:
        use_key(DEV_AUDIT_KEY)
