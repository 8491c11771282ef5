"""Reading request bodies: JSON only where JSON is expected, strictly parsed, within the size limit."""

from __future__ import annotations

from typing import Any

from flask import request

from guard.errors import MalformedRequest, UnsupportedMediaType
from guard.strictjson import parse_json

JSON_TYPES = ("application/json",)
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
