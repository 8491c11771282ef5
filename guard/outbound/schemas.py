"""What an admin sends to subscribe a receiver, and the filter of the deliveries list."""

from __future__ import annotations

import difflib
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from guard.core.schemas import StrictSchema
from guard.core.vocabulary import WEBHOOK_EVENTS
from guard.outbound.client import TargetRefused, check_target
from guard.outbound.signing import BadSecret, secret_bytes

MAX_URL = 2000
MAX_EVENTS = 50
STATUSES = ("pending", "delivered", "failed", "cancelled")


class SubscriptionInput(StrictSchema):
    """`POST /v1/subscriptions` (and `guard webhooks add`)."""

    url = fields.String(required=True, validate=validate.Length(min=1, max=MAX_URL))
    events = fields.List(fields.String(validate=validate.Length(max=100)), required=True,
                         validate=validate.Length(min=1, max=MAX_EVENTS))
    secret = fields.String(load_default=None, allow_none=True, load_only=True,
                           validate=validate.Length(min=1, max=200))

    @validates("url")
    def _url(self, value: str, **_: Any) -> None:
        try:
            check_target(value)
        except TargetRefused as exc:
            raise ValidationError(str(exc)) from None

    @validates("events")
    def _events(self, value: list[str], **_: Any) -> None:
        unknown = [name for name in value if name not in WEBHOOK_EVENTS]
        if unknown:
            raise ValidationError([_unknown_event(name) for name in unknown])

    @validates("secret")
    def _secret(self, value: str | None, **_: Any) -> None:
        if value is None:
            return
        try:
            secret_bytes(value)
        except BadSecret as exc:
            raise ValidationError(str(exc)) from None


def _unknown_event(name: str) -> str:
    """Why an event type is refused, with the nearest one Guard sends."""
    close = difflib.get_close_matches(name, WEBHOOK_EVENTS, n=1, cutoff=0.8)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"Guard sends no {name!r} messages.{hint} It sends: {', '.join(WEBHOOK_EVENTS)}."


class DeliveryFilter(StrictSchema):
    """`GET /v1/subscriptions/deliveries?status=...&limit=...`."""

    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
