"""Schemas of the HTTP layer's own inputs: query parameters and the rules validation body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from guard.core import vocabulary
from guard.core.errors import ValidationFailed
from guard.core.schemas import AwareDateTime, Id, StrictSchema, load
from guard.core.vocabulary import CHANNELS, OUTCOMES, PURPOSES
from guard.policy.schemas import FILE_NAME, RuleFiles

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_TIMELINE = 1000


EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


class Instant(AwareDateTime):
    """An aware time as a filter: one beyond what UTC can represent is clamped to the first or last instant."""

    bounded = False

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        result: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return result.astimezone(UTC)
        except OverflowError:
            return EARLIEST if result.year == 1 else LATEST


class DecisionFilters(StrictSchema):
    """The filters of the audit log, shared by the list and the export."""

    customer_id = Id()
    campaign_id = Id()
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    rule_id = Id()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    purpose = fields.String(validate=validate.OneOf(PURPOSES))
    since = Instant()
    until = Instant()


class HoldListQuery(StrictSchema):
    """`GET /v1/holds` query parameters."""

    customer_id = Id()
    status = fields.String(validate=validate.OneOf(vocabulary.HOLD_STATUSES))
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))


class DecisionListQuery(DecisionFilters):
    """`GET /v1/decisions` query parameters."""

    cursor = fields.String(validate=validate.Length(min=1, max=200))
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))


class DecisionExportQuery(DecisionFilters):
    """`GET /v1/decisions/export`: the filters of `GET /v1/decisions` and the format of the download."""

    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "ndjson")))


class CustomerQuery(StrictSchema):
    """`GET /v1/customers/<id>`: the situation now, or at `at`."""

    at = Instant()


class TimelineQuery(StrictSchema):
    """`GET /v1/customers/<id>/timeline`: the latest `limit` items."""

    limit = fields.Integer(load_default=MAX_TIMELINE, validate=validate.Range(min=1, max=MAX_TIMELINE))


class RulesValidateSchema(RuleFiles):
    """`POST /v1/rules/validate` as JSON: one file's text, or several named files."""

    @validates_schema
    def _some_files(self, data: dict[str, Any], **_: Any) -> None:
        if "text" not in data and "files" not in data:
            raise ValidationError("Give either text (one file) or files (a list of {name, text}).", "_schema")


class RulesValidateQuery(StrictSchema):
    """`POST /v1/rules/validate` with a YAML body: the file name to report errors under."""

    file = fields.String(load_default="rules.yaml", validate=FILE_NAME)




def query(schema: Schema) -> dict[str, Any]:
    """The request's query parameters, validated; each parameter may be given once."""
    bad: dict[str, list[str]] = {}
    for name, values in request.args.lists():
        if len(values) > 1:
            bad[name] = ["Give this parameter once."]
        elif "\x00" in values[0]:
            bad[name] = ["Must not contain NUL characters."]
    if bad:
        raise ValidationFailed("The query parameters are not valid.", bad)
    return load(schema, request.args.to_dict(), "query")
