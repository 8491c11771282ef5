"""What an admin sends to configure a source, and what Guard shows of one (never the secret)."""

from __future__ import annotations

import re

from marshmallow import fields, validate

from guard.core.schemas import StrictSchema
from guard.inbound import KINDS

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\Z")
NAME = validate.Regexp(NAME_PATTERN,
                       error="1-64 lowercase letters, digits, '-' and '_', starting with a letter or digit, e.g. shop.")
FIELD = validate.Regexp(r"[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,9}\Z",
                        error="A dotted path into the vendor's payload, e.g. customer.email.")
MAX_SECRET = 1000


class SourceInput(StrictSchema):
    """`POST /v1/sources`."""

    name = fields.String(required=True, validate=NAME)
    kind = fields.String(required=True, validate=validate.OneOf(sorted(KINDS)))
    secret = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=MAX_SECRET))
    customer_field = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), FIELD])
