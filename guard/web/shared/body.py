"""Reading request bodies: JSON only where JSON is expected, strictly parsed, within the size limit."""

from __future__ import annotations

from typing import Any

from flask import request

from guard.core.errors import MalformedRequest, UnsupportedMediaType, ValidationFailed
from guard.core.schemas import MAX_ID
from guard.core.strictjson import parse_json

JSON_TYPES = ("application/json",)
IDEMPOTENCY_HEADER = "Idempotency-Key"
YAML_TYPES = ("text/yaml", "application/yaml", "application/x-yaml", "text/plain")


class MalformedText(MalformedRequest):
    """A text body that is not valid UTF-8."""

    code = "malformed_body"


def json_body() -> Any:
    """The JSON body: 415 unless declared as JSON, 400 unless it parses, 413 when too large."""
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.",
                                   {"content_type": request.content_type})
    return parse_json(request.get_data(cache=True))


def is_yaml() -> bool:
    """Whether the request declares a YAML (or plain text) body."""
    return request.mimetype in YAML_TYPES


def text_body() -> str:
    """The request's body as UTF-8 text."""
    raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedText("The body is not UTF-8 text.", {"reason": "the body is not UTF-8"}) from None
    if "\x00" in text:
        raise MalformedText("The body contains a NUL character.", {"reason": "NUL character"})
    return text


def idempotency_header() -> str | None:
    """The `Idempotency-Key` header (1 to MAX_ID printable ASCII characters), or None when not sent."""
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    if not 0 < len(value) <= MAX_ID or not all(" " <= c <= "~" for c in value):
        raise ValidationFailed(f"The {IDEMPOTENCY_HEADER} header is not valid.",
                               {IDEMPOTENCY_HEADER: [f"1 to {MAX_ID} printable ASCII characters."]})
    return value


def with_idempotency_key(body: Any, field: str) -> Any:
    """The body with the `Idempotency-Key` header standing for its `field`; 422 when both are given and differ."""
    key = idempotency_header()
    if key is None or not isinstance(body, dict):
        return body
    given = body.get(field)
    if given is not None and given != key:
        message = f"The {IDEMPOTENCY_HEADER} header and {field} differ."
        raise ValidationFailed(message, {field: [message], IDEMPOTENCY_HEADER: [message]})
    return {**body, field: key}


def no_idempotency_header(field: str) -> None:
    """422 when `Idempotency-Key` is sent where every item carries its own `field` (batches, streams)."""
    if request.headers.get(IDEMPOTENCY_HEADER) is not None:
        message = f"Give each item its own {field}; the {IDEMPOTENCY_HEADER} header is for single requests."
        raise ValidationFailed(message, {IDEMPOTENCY_HEADER: [message]})
