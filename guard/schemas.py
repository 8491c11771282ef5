"""Shared marshmallow building blocks: aware datetimes, bounded strings, typed attribute maps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from guard.rules.fields import ATTRIBUTE_NAME

MAX_ID = 200
MAX_ATTRIBUTES = 50
MAX_LIST = 100
MAX_ATTRIBUTE_TEXT = 1000
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class StrictSchema(Schema):
    """Unknown fields are errors: a typo must not silently change a decision."""

    class Meta:
        unknown = "raise"


class AwareDateTime(fields.DateTime):
    """ISO-8601 with an explicit offset; naive times are refused because their instant is unknown."""

    bounded = True  # a filter (see guard.http.schemas.Instant) clamps instead
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


def Id(**kwargs: Any) -> fields.String:
    """A non-empty identifier of at most 200 characters."""
    return fields.String(validate=validate.Length(min=1, max=MAX_ID), **kwargs)


def IdList(**kwargs: Any) -> fields.List:
    """A bounded list of identifiers."""
    return fields.List(Id(), validate=validate.Length(max=MAX_LIST), **kwargs)


class Attributes(fields.Dict):
    """A flat map of named string, number or boolean values."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        result = super()._deserialize(value, attr, data, **kwargs)
        if len(result) > MAX_ATTRIBUTES:
            raise ValidationError(f"At most {MAX_ATTRIBUTES} attributes.")
        errors = {}
        for key, item in result.items():
            if not ATTRIBUTE_NAME.match(str(key)):
                errors[key] = ["Names are letters, digits and '_' (at most 64), not starting with a digit."]
            elif not isinstance(item, str | int | float | bool) or (
                    isinstance(item, str) and len(item) > MAX_ATTRIBUTE_TEXT):
                errors[key] = ["A value is a text (at most 1000 characters), a number or true/false."]
            elif isinstance(item, float) and item != item:
                errors[key] = ["Not a number."]
        if errors:
            raise ValidationError(errors)
        return result
