"""Rule files as requests carry them: one schema for every upload (validate, store a version, backtest)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from guard.core.schemas import StrictSchema

MAX_RULE_FILES = 100
MAX_RULE_TEXT = 512 * 1024
FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
FILE_NAME_HINT = "A file name of letters, digits, '.', '_' and '-', e.g. rules.yaml."
FILE_NAME = validate.Regexp(FILE_NAME_PATTERN, error=FILE_NAME_HINT)


class RuleFile(StrictSchema):
    """One named rule file."""

    name = fields.String(required=True, validate=FILE_NAME)
    text = fields.String(required=True, validate=validate.Length(max=MAX_RULE_TEXT))


class RuleFiles(StrictSchema):
    """Rule files given inline: a list of {name, text}, or one file's text (named by `file`), never both."""

    files = fields.List(fields.Nested(RuleFile), validate=validate.Length(min=1, max=MAX_RULE_FILES))
    text = fields.String(validate=validate.Length(max=MAX_RULE_TEXT))
    file = fields.String(load_default="rules.yaml", validate=FILE_NAME)

    @validates_schema
    def _one_form(self, data: dict[str, Any], **_: Any) -> None:
        if "files" in data and "text" in data:
            raise ValidationError("Give either text (one file) or files (a list of {name, text}), not both.",
                                  "_schema")
        names = [f["name"] for f in data.get("files", [])]
        if len(names) != len(set(names)):
            raise ValidationError("Each file name once.", "files")
