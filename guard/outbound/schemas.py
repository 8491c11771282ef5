"""What an admin sends to subscribe a receiver, and the filter of the deliveries list."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from guard.core.schemas import StrictSchema
from guard.outbound.client import TargetRefused, check_target
from guard.outbound.signing import BadSecret, secret_bytes

EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]{0,49}(\.[a-z0-9_]{1,50}){0,3}\Z")
MAX_URL = 2000
MAX_EVENTS = 50
STATUSES = ("pending", "delivered", "failed", "cancelled")


class SubscriptionInput(StrictSchema):
    """`POST /v1/subscriptions` (and `guard webhooks add`)."""

    url = fields.String(required=True, validate=validate.Length(min=1, max=MAX_URL))
    events = fields.List(
        fields.String(validate=validate.Regexp(EVENT_TYPE, error="An event type, e.g. care.requested.")),
        required=True, validate=validate.Length(min=1, max=MAX_EVENTS))
    secret = fields.String(load_default=None, allow_none=True, load_only=True,
                           validate=validate.Length(min=1, max=200))

    @validates("url")
    def _url(self, value: str, **_: Any) -> None:
        try:
            check_target(value)
        except TargetRefused as exc:
            raise ValidationError(str(exc)) from None

    @validates("secret")
    def _secret(self, value: str | None, **_: Any) -> None:
        if value is None:
            return
        try:
            secret_bytes(value)
        except BadSecret as exc:
            raise ValidationError(str(exc)) from None


class DeliveryFilter(StrictSchema):
    """`GET /v1/subscriptions/deliveries?status=...&limit=...`."""

    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
