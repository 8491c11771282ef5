"""Schemas of decision requests and responses."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from guard.decisions.message import Message
from guard.rules.model import CHANNELS, PURPOSES
from guard.schemas import Attributes, AwareDateTime, Id, IdList, StrictSchema
from guard.timeutil import as_utc


class MessageSchema(StrictSchema):
    """The planned send as a rule test writes it (no customer: the test is about one)."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    campaign_id = Id(load_default=None, allow_none=True)
    product_ids = IdList(load_default=list)
    send_at = AwareDateTime(load_default=None, allow_none=True)
    attributes = Attributes(load_default=dict)


class DecisionRequestSchema(MessageSchema):
    """`POST /v1/decisions`."""

    customer_id = Id(required=True)
    idempotency_key = Id(load_default=None, allow_none=True)
    dry_run = fields.Boolean(load_default=False)
    rules_version = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1))


def to_message(data: dict[str, Any], customer_id: str, default_send_at: Any) -> Message:
    """The typed message from validated data; send_at defaults to now."""
    send_at = data.get("send_at") or default_send_at
    return Message(
        customer_id=customer_id,
        channel=data["channel"],
        purpose=data["purpose"],
        send_at=as_utc(send_at),
        campaign_id=data.get("campaign_id"),
        product_ids=tuple(data.get("product_ids") or ()),
        attributes=dict(data.get("attributes") or {}),
    )


class ReasonSchema(StrictSchema):
    rule_id = fields.String()
    outcome = fields.String()
    explanation = fields.String()


class DecisionResponseSchema(StrictSchema):
    """The answer to a decision request."""

    decision_id = fields.String()
    outcome = fields.String()
    route = fields.String(allow_none=True)
    defer_until = fields.String(allow_none=True)
    reasons = fields.List(fields.Nested(ReasonSchema))
    rules_version = fields.String()
    evaluated_at = fields.String()
