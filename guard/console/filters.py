"""The decision filters of console pages, validated by the same schemas as the API's query parameters."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema
from werkzeug.datastructures import MultiDict

from guard.errors import ValidationFailed
from guard.http.schemas import load

FILTERS = ("customer_id", "campaign_id", "outcome", "rule_id", "channel", "purpose", "since", "until")
# What a browser's datetime-local input sends: no seconds or offset.
LOCAL_INPUT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def utc_input(text: str | None) -> str | None:
    """A time typed in a form, taken as UTC when it names no offset; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    return text + ("Z" if LOCAL_INPUT.match(text) else "")


def chosen(args: MultiDict[str, str], names: tuple[str, ...] = FILTERS) -> dict[str, str]:
    """The filters a form filled in (empty fields are no filter), as the form shows them."""
    return {name: args[name].strip() for name in names if args.get(name, "").strip()}


def validated(schema: Schema, shown: dict[str, str], extra: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(filters for the query, field errors): invalid filters yield no filters and their messages."""
    raw = {**shown, **(extra or {})}
    for name in ("since", "until"):
        if name in raw:
            raw[name] = utc_input(raw[name])
    try:
        return load(schema, raw, "filter"), {}
    except ValidationFailed as exc:
        return {}, exc.details
