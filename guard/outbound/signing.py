"""Standard Webhooks signing: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256>`.

The signed content is `id.timestamp.body`; the HMAC key is the secret's bytes, written `whsec_<base64>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import datetime

PREFIX = "whsec_"
# The Standard Webhooks specification: secrets of 24 to 64 random bytes.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


class BadSecret(ValueError):
    """Not a `whsec_` secret of 24 to 64 base64-encoded bytes."""


def new_secret() -> str:
    """A fresh secret of 32 random bytes, `whsec_...`."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key a `whsec_...` secret stands for, or BadSecret."""
    if not secret.startswith(PREFIX):
        raise BadSecret(f"A Standard Webhooks secret starts with {PREFIX} followed by base64.")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret(f"After {PREFIX}, the secret must be base64.") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise BadSecret(f"The secret must encode {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes (got {len(key)}).")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def signed_headers(key: bytes, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The headers of one attempt sent at `at` (whole seconds since the epoch, as the specification says)."""
    timestamp = int(at.timestamp())
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, message_id, timestamp, body),
            "content-type": "application/json"}
