"""The schema of a decision request (`POST /v1/decisions` and every item of a batch or stream)."""

from __future__ import annotations

from marshmallow import fields, validate

from guard.core.message import MessageSchema
from guard.core.schemas import Id


class DecisionRequestSchema(MessageSchema):
    """`POST /v1/decisions`."""

    customer_id = Id(required=True)
    idempotency_key = Id(load_default=None, allow_none=True)
    dry_run = fields.Boolean(load_default=False)
    rules_version = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1))
