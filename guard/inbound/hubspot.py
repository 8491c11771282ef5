"""HubSpot webhooks: v3 signature (method + URL + body + timestamp); batched contact events as consent."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from guard.inbound.common import (
    Mapped,
    body_key,
    check_base64,
    check_fresh,
    event,
    header,
    ignored,
    iso,
    now_or,
    parse_any_json,
    ref,
    timestamp,
)
from guard.inbound.errors import InvalidSignature

SIGNATURE_V3 = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
SIGNATURE_V1 = "X-HubSpot-Signature"
VERSION = "X-HubSpot-Signature-Version"
# The receiving endpoint passes the request line as these pseudo-headers (no HTTP header can be named so).
METHOD = ":method"
URL = ":url"
MAX_EVENTS = 1000  # HubSpot batches at most 100 events per request
OPT_OUT = "hs_email_optout"


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str, now: datetime | None = None) -> None:
    """Raise InvalidSignature unless the v3 signature (or, without the request URL, the v1 one) matches."""
    url = header(headers, URL)
    if url is not None:
        _verify_v3(headers, raw_body, secret, url, now_or(now))
        return
    given = (header(headers, SIGNATURE_V1) or "").strip().lower()
    expected = hashlib.sha256(secret.encode() + raw_body).hexdigest()
    if (header(headers, VERSION) or "").lower() != "v1" or not hmac.compare_digest(given, expected):
        raise InvalidSignature("The HubSpot signature does not match the body.")


def _verify_v3(headers: Mapping[str, str], raw_body: bytes, secret: str, url: str, now: datetime) -> None:
    stamp = (header(headers, TIMESTAMP) or "").strip()
    if not stamp.isdigit() or len(stamp) > 16:
        raise InvalidSignature(f"The {TIMESTAMP} header is missing or not milliseconds.")
    signed_at = timestamp(int(stamp) // 1000)
    if signed_at is None:
        raise InvalidSignature(f"The {TIMESTAMP} header is out of range.")
    method = (header(headers, METHOD) or "POST").upper()
    # HubSpot signs the URI with these escapes decoded (its docs list exactly these).
    uri = url
    for escaped in ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B"):
        uri = uri.replace(escaped, unquote(escaped)).replace(escaped.lower(), unquote(escaped))
    check_base64(secret, method.encode() + uri.encode() + raw_body + stamp.encode(), header(headers, SIGNATURE_V3))
    check_fresh(signed_at, now)


def to_events(headers: Mapping[str, str], raw_body: bytes, customer_field: str | None = None,
              now: datetime | None = None) -> Mapped:
    """The consent events of a batch: a contact's `hs_email_optout` true withdraws e-mail consent, false gives it."""
    batch = parse_any_json(raw_body)
    delivery = body_key(raw_body)
    if not isinstance(batch, list):
        return ignored("A HubSpot webhook body is a JSON array of events.", delivery)
    events = [e for item in batch[:MAX_EVENTS] if (e := _consent(item, customer_field, now_or(now))) is not None]
    if not events:
        return ignored("No event in the batch changes e-mail consent.", delivery)
    return Mapped(tuple(events), delivery)


def _consent(item: Any, customer_field: str | None, now: datetime) -> dict[str, Any] | None:
    if not isinstance(item, dict) or item.get("subscriptionType") != "contact.propertyChange":
        return None
    value = str(item.get("propertyValue")).lower()
    event_id = ref(item.get("eventId"))
    customer = ref(item.get(customer_field) if customer_field else item.get("objectId"))
    if item.get("propertyName") != OPT_OUT or value not in ("true", "false") or event_id is None or not customer:
        return None
    occurred_ms = item.get("occurredAt")
    occurred = iso(occurred_ms // 1000 if isinstance(occurred_ms, int) else None, now)
    kind = "consent.withdrawn" if value == "true" else "consent.given"
    return event(f"hubspot-{event_id}", kind, customer, occurred, channel="email", purpose="marketing")
