"""Schemas of rule lifecycle requests: versions, activation, rollback, backtests."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from guard.core.schemas import AwareDateTime, StrictSchema
from guard.policy.schemas import RuleFiles

MESSAGE = validate.Length(min=1, max=2000)


class CreateVersion(RuleFiles):
    """`POST /v1/rules/versions`: a new version from files, with a message saying why."""

    message = fields.String(required=True, validate=MESSAGE)
    activate = fields.Boolean(load_default=False)

    @validates_schema
    def _has_files(self, data: dict[str, Any], **_: Any) -> None:
        if "files" not in data and "text" not in data:
            raise ValidationError("Give the rule files: files [{name, text}] or text.", "files")


class Activate(StrictSchema):
    """`POST /v1/rules/activate`."""

    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    message = fields.String(load_default="activated", validate=MESSAGE)


class Rollback(StrictSchema):
    """`POST /v1/rules/rollback`: back to the previously active version, or to `to`."""

    to = fields.Integer(strict=True, validate=validate.Range(min=1), load_default=None, allow_none=True)
    message = fields.String(load_default="rolled back", validate=MESSAGE)


class Backtest(RuleFiles):
    """`POST /v1/rules/backtest`: a candidate (stored version or inline files) and a period of send_at."""

    version = fields.Integer(strict=True, validate=validate.Range(min=1))
    since = AwareDateTime(load_default=None, allow_none=True)
    until = AwareDateTime(load_default=None, allow_none=True)
    samples = fields.Integer(load_default=20, validate=validate.Range(min=0, max=1000))
    background = fields.Boolean(load_default=None, allow_none=True)

    @validates_schema
    def _one_candidate(self, data: dict[str, Any], **_: Any) -> None:
        given = sum(k in data for k in ("version", "files", "text"))
        if given != 1:
            raise ValidationError("Name the candidate: version (a stored one), or files / text.", "_schema")
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("since must be before until.", "until")
