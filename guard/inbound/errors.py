"""Errors of inbound vendor deliveries, each with a stable code the HTTP layer maps once."""

from __future__ import annotations


class InboundError(Exception):
    """A vendor delivery Guard cannot accept."""

    code = "inbound_error"


class InvalidSignature(InboundError):
    """The delivery's signature is missing, wrong or (where the scheme has a timestamp) stale."""

    code = "invalid_signature"


class MalformedPayload(InboundError):
    """A correctly signed delivery whose body is not the vendor's JSON document."""

    code = "malformed_payload"
