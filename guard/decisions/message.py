"""The planned send and the earlier decisions a rule may count."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
