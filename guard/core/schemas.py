"""Shared marshmallow building blocks: aware datetimes, bounded strings, typed attribute maps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from guard.core.errors import ValidationFailed
from guard.core.strictjson import clean_text
from guard.core.vocabulary import ATTRIBUTE_NAME

MAX_ID = 200
MAX_ATTRIBUTES = 50
MAX_LIST = 100
MAX_TEXT = 1000
# Attribute numbers: what the engine holds exactly (64-bit integers; doubles are exact within this range
# too) and both databases store as they came. Beyond it the engine saturates or refuses.
MIN_NUMBER = -(2**63)
MAX_NUMBER = 2**63 - 1
_UNSTORABLE = "Text without NUL characters or unpaired surrogates."
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class StrictSchema(Schema):
    """Unknown fields are errors: a typo must not silently change a decision."""

    class Meta:
        unknown = "raise"


class AwareDateTime(fields.DateTime):
    """ISO-8601 with an explicit offset; naive times are refused because their instant is unknown."""

    bounded = True  # a filter (see guard.web.shared.schemas.Instant) clamps instead
    default_error_messages = {
        "invalid": "Not a valid time: write ISO 8601 with an offset, e.g. 2026-03-01T10:00:00Z or "
                   "2026-03-01T11:00:00+01:00.",
        "naive": "Give a time zone offset, e.g. 2026-03-01T10:00:00Z or +01:00.",
        "range": "A time between 1900 and 9000 (UTC).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is None:
            raise self.make_error("naive")
        if not self.bounded:
            return result
        # Times far from now are typos, and at the calendar's edges UTC conversion and windows overflow.
        try:
            utc = result.astimezone(UTC)
        except OverflowError:
            raise self.make_error("range") from None
        if not EARLIEST <= utc <= LATEST:
            raise self.make_error("range")
        return result


def storable_text(text: str) -> None:
    """Refuse text that a database cannot store (requests built in code never went through the parser)."""
    if not clean_text(text):
        raise ValidationError(_UNSTORABLE)


def Id(**kwargs: Any) -> fields.String:
    """A non-empty identifier of at most 200 characters."""
    return fields.String(validate=[validate.Length(min=1, max=MAX_ID), storable_text], **kwargs)


def IdList(**kwargs: Any) -> fields.List:
    """A bounded list of identifiers."""
    return fields.List(Id(), validate=validate.Length(max=MAX_LIST), **kwargs)


class Attributes(fields.Dict):
    """A flat map of named string, number or boolean values, each bounded as documented."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        result = super()._deserialize(value, attr, data, **kwargs)
        if len(result) > MAX_ATTRIBUTES:
            raise ValidationError(f"At most {MAX_ATTRIBUTES} attributes.")
        errors = {}
        for key, item in result.items():
            if not ATTRIBUTE_NAME.match(str(key)):
                errors[key] = ["Names are letters, digits and '_' (at most 64), not starting with a digit."]
            elif not isinstance(item, str | int | float | bool) or (isinstance(item, str) and len(item) > MAX_TEXT):
                errors[key] = [f"A value is a text (at most {MAX_TEXT} characters), a number or true/false."]
            elif isinstance(item, str) and not clean_text(item):
                errors[key] = [_UNSTORABLE]
            elif isinstance(item, float) and item != item:
                errors[key] = ["Not a number."]
            elif isinstance(item, int | float) and not isinstance(item, bool) and not MIN_NUMBER <= item <= MAX_NUMBER:
                errors[key] = [f"A number between {MIN_NUMBER} and {MAX_NUMBER}."]
        if errors:
            raise ValidationError(errors)
        return result


def load(schema: Schema, raw: Any, what: str = "request") -> dict[str, Any]:
    """`raw` validated by `schema`, or ValidationFailed with field details (`what` names it in the message)."""
    if not isinstance(raw, dict):
        raise ValidationFailed(f"The {what} must be a JSON object.", {"_schema": ["A JSON object."]})
    try:
        result: dict[str, Any] = schema.load(raw)
    except ValidationError as exc:
        raise ValidationFailed(f"The {what} is not valid.", exc.messages) from None
    return result
