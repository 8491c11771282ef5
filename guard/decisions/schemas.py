"""The schema of a decision request (`POST /v1/decisions` and every item of a batch or stream)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from guard.core.message import MessageSchema
from guard.core.schemas import AwareDateTime, Id, StrictSchema, load


class HoldOptionsSchema(StrictSchema):
    """`"hold": {"expires_at": T}`: the sender accepts a hold until T at the latest."""

    expires_at = AwareDateTime(required=True)


class HoldOption(fields.Field):
    """`"hold": true | false | {"expires_at": T}`, loaded as None (no holds) or `{"expires_at": T | None}`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any] | None:
        if value is True:
            return {"expires_at": None}
        if value is False or value is None:
            return None
        if isinstance(value, dict):
            try:
                return HoldOptionsSchema().load(value)
            except ValidationError as exc:
                raise ValidationError(exc.messages) from None
        raise ValidationError('Give true, false or {"expires_at": "<ISO-8601 time>"}.')


class DecisionRequestSchema(MessageSchema):
    """`POST /v1/decisions`."""

    customer_id = Id(required=True)
    idempotency_key = Id(load_default=None, allow_none=True)
    dry_run = fields.Boolean(load_default=False)
    rules_version = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1))
    # Opt-in (issue 15): a block that says how it clears answers `hold` and Guard releases the message later.
    hold = HoldOption(load_default=None, allow_none=True)


def load_held_request(stored: dict[str, Any]) -> dict[str, Any]:
    """A held request as stored with its hold, validated again before it is decided again."""
    return load(DecisionRequestSchema(), stored, "held request")
