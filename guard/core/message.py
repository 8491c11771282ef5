"""The planned send (its schema and typed form) and the earlier decisions a rule may count."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import fields, validate

from guard.core.schemas import Attributes, AwareDateTime, Id, IdList, StrictSchema
from guard.core.timeutil import as_utc
from guard.core.vocabulary import CHANNELS, PURPOSES


@dataclass(frozen=True)
class Message:
    """A planned send, validated and typed."""

    customer_id: str
    channel: str
    purpose: str
    send_at: datetime
    campaign_id: str | None = None
    product_ids: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PriorDecision:
    """An earlier recorded decision for the same customer, as frequency rules see it."""

    send_at: datetime
    purpose: str
    channel: str
    outcome: str
    campaign_id: str | None = None
    rule_ids: tuple[str, ...] = ()

    def field(self, name: str) -> Any:
        """A filterable field; `rule_id` is the list of rules that matched it."""
        return self.rule_ids if name == "rule_id" else getattr(self, name)


class MessageSchema(StrictSchema):
    """The planned send as a rule test writes it (no customer: the test is about one)."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    campaign_id = Id(load_default=None, allow_none=True)
    product_ids = IdList(load_default=list)
    send_at = AwareDateTime(load_default=None, allow_none=True)
    attributes = Attributes(load_default=dict)


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
