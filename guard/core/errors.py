"""Errors are data: every failure Guard reports has a stable code, a message and details."""

from __future__ import annotations

from typing import Any


class GuardError(Exception):
    """Base of every error Guard reports to a caller."""

    code = "guard_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole (a stream's helper processes send errors back): Exception's own keeps only args.
        return (self.__class__, (self.message, self.details))

    def to_dict(self) -> dict[str, Any]:
        """The one error shape: {"code", "message", "details"}."""
        return {"code": self.code, "message": self.message, "details": self.details}


class MalformedRequest(GuardError):
    """The body could not be parsed at all."""

    code = "malformed_json"


class UnsupportedMediaType(GuardError):
    """The body is not JSON."""

    code = "unsupported_media_type"


class PayloadTooLarge(GuardError):
    """The body exceeds the configured limit."""

    code = "payload_too_large"


class ValidationFailed(GuardError):
    """The input is well-formed but wrong; details maps fields to messages."""

    code = "validation_failed"


class RulesInvalid(ValidationFailed):
    """A rule file does not compile; details carry every located error."""

    code = "rules_invalid"


class Unauthenticated(GuardError):
    """No key, or a key Guard does not know."""

    code = "unauthenticated"


class Forbidden(GuardError):
    """The key is valid but lacks the scope."""

    code = "forbidden"


class NotFound(GuardError):
    """The thing asked for does not exist."""

    code = "not_found"


class Conflict(GuardError):
    """The request contradicts something already recorded."""

    code = "conflict"


class IdempotencyConflict(Conflict):
    """The idempotency key was used before with a different body."""

    code = "idempotency_conflict"


class EventConflict(Conflict):
    """The event id was used before with different content."""

    code = "event_conflict"


class ServiceUnavailable(GuardError):
    """A dependency (the database) cannot be reached right now."""

    code = "service_unavailable"


class RuleTestsFailed(ValidationFailed):
    """The rule files compile but their own test cases fail, so they cannot become active."""

    code = "rule_tests_failed"


class SignatureRejected(GuardError):
    """A vendor delivery whose signature is missing, wrong or stale: nothing of it is stored."""

    code = "invalid_signature"


class MalformedDelivery(MalformedRequest):
    """A correctly signed vendor delivery whose body is not the vendor's JSON document."""

    code = "malformed_payload"


class AliasTaken(Conflict):
    """The alias is already linked to another customer."""

    code = "alias_taken"


class AliasesNotChainable(Conflict):
    """A link that would make a chain of names (an alias of an alias): link every name to the customer id."""

    code = "alias_chain"


class TooManyAliases(Conflict):
    """The customer would have more aliases than Guard keeps for one person."""

    code = "too_many_aliases"


class HoldNotWaiting(Conflict):
    """The hold was already released, ended, expired or cancelled: only a waiting hold can be cancelled."""

    code = "hold_not_waiting"
