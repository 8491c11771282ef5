"""The fact fields a rule may test, their types, and the flat names the engine sees."""

from __future__ import annotations

import re
from dataclasses import dataclass

OUTCOMES = ("allow", "block", "defer", "reroute", "hold")
# What a rule case may say: `hold` is never written, it is a `block` with a `release` that the request accepted.
RULE_OUTCOMES = ("allow", "block", "defer", "reroute")
# How a blocking case says it clears (`release: {when: case_closed}`): the open case it matched closes.
RELEASE_WHEN = ("case_closed",)
HOLD_STATUSES = ("waiting", "released", "ended", "expired", "cancelled")
CHANNELS = ("email", "sms", "push", "phone", "mail", "in_app", "whatsapp")
PURPOSES = ("marketing", "survey", "service", "transactional", "legal")
CASE_KINDS = ("complaint", "refund")
# Events a rerouting rule case may ask Guard to emit (`notify:`); each is delivered to its webhook subscribers.
NOTIFY_EVENTS = ("care.requested",)
# What Guard sends when a held message settles (guard.holds).
HOLD_EVENTS = ("hold.released", "hold.ended", "hold.expired")  # a cancel, asked by the sender, sends none
# Every type of webhook message Guard sends: what a subscription may ask for (a misspelt type would get nothing).
WEBHOOK_EVENTS = (*NOTIFY_EVENTS, *HOLD_EVENTS)
# Lower index = more severe; combining picks the most severe outcome.
# A hold is a block the sender agreed to wait out: as severe as the block it stands for.
SEVERITY = {"block": 0, "hold": 0, "reroute": 1, "defer": 2, "allow": 3}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CONSENT_STATES = ("withdrawn", "given", "unknown")
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

# Operators each field type accepts.
OPERATORS = {
    "enum": ("eq", "ne", "in", "not_in", "exists"),
    "string": ("eq", "ne", "in", "not_in", "exists"),
    "number": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"),
    "list": ("contains", "exists"),
    "clock": ("between", "gt", "gte", "lt", "lte"),
    "attribute": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"),
}


@dataclass(frozen=True)
class FieldSpec:
    """A rule-visible field: the engine's fact name, its type and, for enums, its values."""

    fact: str
    type: str
    values: tuple[str, ...] = ()


FIELDS: dict[str, FieldSpec] = {
    "message.channel": FieldSpec("channel", "enum", CHANNELS),
    "message.purpose": FieldSpec("purpose", "enum", PURPOSES),
    "message.campaign_id": FieldSpec("campaign_id", "string"),
    "message.product_ids": FieldSpec("product_ids", "list"),
    "profile.tenure_years": FieldSpec("tenure_years", "number"),
    "profile.tenure_days": FieldSpec("tenure_days", "number"),
    "profile.timezone": FieldSpec("timezone", "string"),
    "consent": FieldSpec("consent", "enum", CONSENT_STATES),
    "local_time": FieldSpec("local_minutes", "clock"),
    "local_weekday": FieldSpec("local_weekday", "enum", WEEKDAYS),
}

# Facts every request carries (guard.policy.facts.build_facts writes them all, and every history
# count): "not X" on them needs no "or missing" alternative, which the engine pays for.
ALWAYS_PRESENT = frozenset({
    "channel", "purpose", "product_ids", "product_ids_count", "consent", "timezone", "local_minutes",
    "local_weekday",
})

ATTRIBUTE_PREFIXES = ("attributes.", "message.attributes.")

# Fields of an earlier decision a `decisions` clause may filter on.
DECISION_FIELDS: dict[str, tuple[str, ...]] = {
    "purpose": PURPOSES,
    "channel": CHANNELS,
    "outcome": OUTCOMES,
    "campaign_id": (),
    "rule_id": (),
}

KNOWN_EVENT_TYPES = (
    "complaint.opened",
    "complaint.resolved",
    "complaint.reopened",
    "refund.requested",
    "refund.completed",
    "refund.rejected",
    "purchase.completed",
    "consent.withdrawn",
    "consent.given",
    "profile.updated",
)


def attribute_name(path: str) -> str | None:
    """The attribute name if `path` refers to a message attribute."""
    for prefix in ATTRIBUTE_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix):]
    return None


def attribute_fact(name: str, value: object) -> str:
    """The engine fact name of an attribute, typed so strings never compare with numbers."""
    if isinstance(value, bool):
        return f"a_b__{name}"
    if isinstance(value, int | float):
        return f"a_n__{name}"
    return f"a_s__{name}"


def attribute_facts(name: str) -> tuple[str, str, str]:
    """All typed fact names of an attribute."""
    return (f"a_s__{name}", f"a_n__{name}", f"a_b__{name}")


def always_present(fact: str) -> bool:
    """Whether every fact document carries this engine fact."""
    return fact in ALWAYS_PRESENT or bool(_PROBE_FACT.match(fact))


_PROBE_FACT = re.compile(r"^p\d+_count$")


def probe_fact(index: int) -> str:
    """The engine fact holding the count of history probe number `index`."""
    return f"p{index}_count"
