"""The decision filters of console pages, validated by the same schemas as the API's query parameters."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema
from werkzeug.datastructures import MultiDict

from guard.core.errors import ValidationFailed
from guard.core.schemas import load

FILTERS = ("customer_id", "campaign_id", "outcome", "rule_id", "channel", "purpose", "since", "until")
# What the console's time fields take: a 24-hour UTC time, `2026-03-04 22:00` (a `T` instead of the space
# and seconds are fine too); an explicit offset is honoured.
LOCAL_INPUT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
UTC_PATTERN = r"\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?\s*"
UTC_HINT = "Write the time in UTC, 24-hour: YYYY-MM-DD HH:MM, e.g. 2026-03-04 22:00."


def utc_input(text: str | None) -> str | None:
    """A time typed in a form, taken as UTC when it names no offset; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    if LOCAL_INPUT.match(text):
        return text[:10] + "T" + text[11:] + "Z"
    return text


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
        return {}, {name: ([UTC_HINT] if name in ("since", "until") else messages)
                    for name, messages in exc.details.items()}
