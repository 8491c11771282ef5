"""What every vendor mapping shares: the mapping result, header lookup, exact JSON, HMAC checks and ids."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from guard.inbound.errors import InvalidSignature, MalformedPayload

MAX_REF = 200  # Guard's id length limit (guard.core.schemas.MAX_ID); this package imports no other guard package.
MAX_PRODUCTS = 1000  # data.product_ids holds at most this many (guard.situation.schemas).
TOLERANCE_SECONDS = 300  # Stripe's documented default; used for every timestamped scheme.


@dataclass(frozen=True)
class Mapped:
    """The Guard events one delivery stands for, its dedupe id, why it maps to nothing, whose order it names."""

    events: tuple[dict[str, Any], ...] = ()
    delivery_id: str | None = None
    ignored: str | None = None
    # Set when the vendor names only an order (or charge): each event's customer_id is None and the caller
    # must find the customer from the purchase it saw for this order, and say so when it cannot.
    order_ref: str | None = None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, its name compared case-insensitively (HTTP/2 lowercases names)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse_json(raw_body: bytes) -> dict[str, Any]:
    """The body as a JSON object; integers stay exact (ids above 2**53) and no number becomes a float."""
    payload = parse_any_json(raw_body)
    if not isinstance(payload, dict):
        raise MalformedPayload("The body is not a JSON object.")
    return payload


def parse_any_json(raw_body: bytes) -> Any:
    """The body as JSON of any shape, numbers read exactly (see parse_json)."""
    try:
        return json.loads(raw_body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload("The body is not valid JSON.") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def ref(value: Any) -> str | None:
    """A vendor id as Guard text: integers exactly, non-empty strings as they are, anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    return text if 0 < len(text) <= MAX_REF else None


def dig(payload: Any, dotted: str) -> Any:
    """The value at a dotted path such as `customer.email` (a number indexes a list), or None if there is none."""
    for part in dotted.split("."):
        if isinstance(payload, dict):
            payload = payload.get(part)
        elif isinstance(payload, list) and part.isdigit() and int(part) < len(payload):
            payload = payload[int(part)]
        else:
            return None
    return payload


def sign(secret: str, message: bytes) -> bytes:
    """HMAC-SHA256 of a message under a webhook secret."""
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def check_base64(secret: str, message: bytes, signature: str | None) -> None:
    """Raise unless the signature is the base64 HMAC-SHA256 of the message."""
    if not signature:
        raise InvalidSignature("The signature header is missing.")
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignature("The signature is not base64.") from exc
    if not hmac.compare_digest(given, sign(secret, message)):
        raise InvalidSignature("The signature does not match the body.")


def check_hub_sha1(secret: str, raw_body: bytes, signature: str | None) -> None:
    """Raise unless the signature is `sha1=` the hex HMAC-SHA1 of the body (GitHub's X-Hub-Signature scheme)."""
    expected = "sha1=" + hmac.new(secret.encode(), raw_body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest((signature or "").strip().lower(), expected):
        raise InvalidSignature("The X-Hub-Signature does not match the body.")


def check_fresh(signed_at: datetime, now: datetime) -> None:
    """Raise when a signature's timestamp is further than the tolerance from now (a replay)."""
    if abs((now - signed_at).total_seconds()) > TOLERANCE_SECONDS:
        raise InvalidSignature(f"The signature's timestamp is more than {TOLERANCE_SECONDS} s from now.")


def timestamp(value: Any) -> datetime | None:
    """An aware datetime from epoch seconds or ISO 8601 text (nanoseconds and `Z` allowed), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        # Python reads at most 6 fractional digits; vendors (Zendesk) send 9.
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}" if digits else head + rest
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def iso(value: Any, fallback: datetime) -> str:
    """A vendor timestamp as ISO 8601 text with its offset, or the fallback when the vendor gave none."""
    return (timestamp(value) or fallback).isoformat()


def body_key(raw_body: bytes) -> str:
    """A stable key for a delivery that carries no id of its own."""
    return hashlib.sha256(raw_body).hexdigest()[:32]


def event(event_id: str, event_type: str, customer_id: str | None, occurred_at: str, **data: Any) -> dict[str, Any]:
    """One Guard event in the schema of POST /v1/events (customer_id None: resolve it from Mapped.order_ref)."""
    return {"event_id": event_id[:MAX_REF], "customer_id": customer_id, "type": event_type,
            "occurred_at": occurred_at, "data": data}


def ignored(reason: str, delivery_id: str | None = None) -> Mapped:
    """A delivery that maps to no Guard event, and why."""
    return Mapped(delivery_id=delivery_id, ignored=reason)


def now_or(now: datetime | None) -> datetime:
    """The caller's clock, or the system's in UTC."""
    return now or datetime.now(UTC)
