"""Schemas of incoming events, with the data each meaningful type requires."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import available_timezones

from marshmallow import ValidationError, fields, validate, validates_schema

from guard.core.schemas import MAX_ID, AwareDateTime, Id, StrictSchema
from guard.core.vocabulary import CHANNELS, PURPOSES

MAX_BATCH = 1000
MAX_DATA_KEYS = 100
# An event's data as compact JSON (UTF-8): every decision about the customer may read it back.
MAX_DATA_BYTES = 16 * 1024
EVENT_TYPE = validate.Regexp(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", error="Types look like complaint.opened.")
_ZONES = frozenset(available_timezones())
REQUIRED_DATA = {
    "complaint.opened": "case_id",
    "complaint.resolved": "case_id",
    "complaint.reopened": "case_id",
    "refund.requested": "refund_id",
    "refund.completed": "refund_id",
    "refund.rejected": "refund_id",
    "purchase.completed": "order_id",
    "consent.withdrawn": "channel",
    "consent.given": "channel",
}


class EventSchema(StrictSchema):
    """One event from a CRM, helpdesk or shop system."""

    event_id = Id(required=True)
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=MAX_ID))
    type = fields.String(required=True, validate=[validate.Length(max=100), EVENT_TYPE])
    occurred_at = AwareDateTime(required=True)
    data = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)), load_default=dict)

    @validates_schema
    def _typed_data(self, event: dict[str, Any], **_: Any) -> None:
        errors = data_errors(event.get("type", ""), event.get("data") or {})
        if errors:
            raise ValidationError({"data": errors})


def data_errors(event_type: str, data: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors of an event's data for the types Guard gives meaning to."""
    errors: dict[str, list[str]] = {}
    if len(data) > MAX_DATA_KEYS:
        return {"_schema": [f"At most {MAX_DATA_KEYS} fields."]}
    if data_size(data) > MAX_DATA_BYTES:
        return {"_schema": [f"At most {MAX_DATA_BYTES} bytes as compact JSON."]}
    required = REQUIRED_DATA.get(event_type)
    if required and not _text(data.get(required)):
        errors[required] = [f"A {event_type} event needs data.{required} (a non-empty text)."]
    if event_type == "purchase.completed":
        products = data.get("product_ids", [])
        if not isinstance(products, list) or len(products) > 1000 or not all(_text(p) for p in products):
            errors["product_ids"] = ["A list of product ids (texts), at most 1000."]
    if event_type.startswith("consent.") and event_type in REQUIRED_DATA:
        if data.get("channel") not in CHANNELS:
            errors["channel"] = [f"One of {', '.join(CHANNELS)}."]
        if data.get("purpose", "marketing") not in PURPOSES:
            errors["purpose"] = [f"One of {', '.join(PURPOSES)}."]
    if event_type == "profile.updated":
        errors.update(_profile_errors(data))
    return errors


def data_size(data: dict[str, Any]) -> int:
    """The size of event data as stored: compact JSON in UTF-8."""
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def _profile_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not ({"customer_since", "timezone"} & data.keys()):
        errors["_schema"] = ["A profile.updated event carries customer_since and/or timezone."]
    if "customer_since" in data:
        try:
            fields.Date()._deserialize(data["customer_since"], None, None)
        except ValidationError:
            errors["customer_since"] = ["A date, e.g. 2021-06-30."]
    if "timezone" in data and data["timezone"] not in _ZONES:
        errors["timezone"] = ["An IANA time zone name, e.g. Europe/Paris."]
    return errors


class EventBatchSchema(StrictSchema):
    """`{"events": [...]}`: items are validated one by one so one bad event does not sink the batch."""

    events = fields.List(fields.Raw(allow_none=True), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


ALIAS = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:[^\x00-\x1f\x7f]+$",
    error="An alias is <prefix>:<value>, the prefix a source name or a kind of id (letters, digits, '_', '.', "
          "'-'; up to 64), e.g. shop:7890123456789 or email:ann@example.com.")
MAX_ALIASES_PER_REQUEST = 100


class AliasesSchema(StrictSchema):
    """`POST /v1/customers/<id>/aliases`: names other systems give this customer."""

    aliases = fields.List(fields.String(validate=[validate.Length(min=3, max=MAX_ID), ALIAS]), required=True,
                          validate=validate.Length(min=1, max=MAX_ALIASES_PER_REQUEST))
