"""What the client returns and raises: decisions (real or fail-safe), event results, the fail-safe policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Guard's documented default (README "When Guard is unreachable", GUARD_FAILSAFE): used until the client has
# fetched the server's own policy once.
DEFAULT_FAILSAFE = {"marketing": "closed", "survey": "closed", "service": "open", "transactional": "open",
                    "legal": "open"}


class GuardError(Exception):
    """Guard answered with an error (a 4xx, or a 429 after retries): the request itself needs fixing."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class GuardUnavailable(Exception):
    """Guard could not be reached or answered 5xx after every retry (for calls that have no fail-safe)."""


@dataclass(frozen=True)
class Decision:
    """Guard's answer for one planned send, or the fail-safe outcome when Guard could not answer."""

    outcome: str | None
    decision_id: str | None = None
    route: str | None = None
    defer_until: str | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    rules_version: Any = None
    evaluated_at: str | None = None
    failsafe: bool = False
    idempotency_key: str | None = None
    customer_id: str | None = None
    # A batch or stream item Guard refused (validation_failed ...); outcome is None then.
    error: dict[str, Any] | None = None

    @property
    def may_send(self) -> bool:
        """True only for `allow`: block, defer, reroute and errors all mean "do not send this now"."""
        return self.outcome == "allow"

    @classmethod
    def from_json(cls, body: dict[str, Any], idempotency_key: str | None = None,
                  customer_id: str | None = None) -> Decision:
        """A decision from Guard's JSON answer (or a batch item's error)."""
        return cls(outcome=body.get("outcome"), decision_id=body.get("decision_id"), route=body.get("route"),
                   defer_until=body.get("defer_until"), reasons=list(body.get("reasons") or []),
                   rules_version=body.get("rules_version"), evaluated_at=body.get("evaluated_at"),
                   idempotency_key=idempotency_key, customer_id=customer_id, error=body.get("error"))


@dataclass(frozen=True)
class FailsafePolicy:
    """Per purpose, `open` (send) or `closed` (hold) when Guard cannot be reached."""

    when_unreachable: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FAILSAFE))
    fetched: bool = False

    def decide(self, purpose: str, idempotency_key: str | None = None, customer_id: str | None = None) -> Decision:
        """The fail-safe decision for a purpose: allow when open, block (hold, ask again later) when closed."""
        # A purpose the policy does not name is held: sending unasked is the costlier mistake.
        mode = self.when_unreachable.get(purpose, "closed")
        outcome = "allow" if mode == "open" else "block"
        why = (f"Guard could not be reached; {purpose!r} fails {mode}: "
               + ("send it." if mode == "open" else "hold it and ask Guard again later."))
        return Decision(outcome=outcome, reasons=[{"rule_id": "failsafe", "outcome": outcome, "explanation": why}],
                        failsafe=True, idempotency_key=idempotency_key, customer_id=customer_id)
