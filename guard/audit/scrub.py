"""What an erasure leaves of a customer's records: decisions, backtest samples and outbound messages keep their
shape and what was decided (outcomes, rule ids, routes, times, campaign and product ids), not the person: their
names pseudonymised, the request reduced to the message, explanations and facts replaced, attributes gone.

Outbound messages are scrubbed by declared shapes, one per event type Guard emits: every field is named with
what becomes of it, and a field no shape names is dropped. A generic sweep (replace any value equal to one of
the customer's names, anywhere) was considered and rejected as the rule: it finds ids only, never a first name
in `attributes` nor an explanation filled from the facts ("Complaint K-17 has been open for 3 days"), which no
list of names contains; and it keeps a new personal field it cannot recognise. A declared shape fails closed
instead: a field added to a message later is dropped at erasure until its shape says it may stay (the erasure
tests compare each message's fields before and after, so a forgotten declaration shows there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from guard.core.canonical import content_hash
from guard.core.vocabulary import HOLD_EVENTS
from guard.decisions import care
from guard.ledger.digests import pseudonym
from guard.storage.tables.decisions import Decision

ERASED_TEXT = "(erased with the customer's data)"
# What an erased decision's stored request keeps: the message, not what the caller knew of the customer.
REQUEST_KEPT = ("channel", "purpose", "send_at", "campaign_id", "product_ids")


def scrub_decision(decision: Decision, alias: str) -> None:
    """Keep what was decided and why (rule ids); drop what the caller and the situation told about the person."""
    request = scrubbed_request(decision.request, alias)
    if decision.idempotency_key is not None:
        # Still unique (a keyed digest of the key), no longer readable.
        decision.idempotency_key = request["idempotency_key"] = pseudonym(decision.idempotency_key)
    decision.customer_id = alias
    decision.request = request
    decision.request_hash = content_hash(request)
    decision.facts = {"erased": True}
    # Only the row holds explanations: the projector's index keeps rule ids alone.
    decision.matched = [{**reason, "explanation": ERASED_TEXT} for reason in decision.matched]


def scrubbed_request(request: Mapping[str, Any], alias: str) -> dict[str, Any]:
    """A request reduced to the message (`REQUEST_KEPT`), under the pseudonym (no idempotency key: a decision
    adds its digest back, for uniqueness)."""
    return {**{k: v for k, v in request.items() if k in REQUEST_KEPT}, "customer_id": alias}


def scrubbed_sample(sample: dict[str, Any], alias: str) -> dict[str, Any]:
    """A backtest report's sample decision of the customer: their id and explanations gone."""
    out = {**sample, "customer_id": alias}
    for side in ("before", "after"):
        if isinstance(out.get(side), dict):
            out[side] = {**out[side], "reasons": [{**r, "explanation": ERASED_TEXT}
                                                  for r in out[side].get("reasons") or []]}
    return out


def scrubbed_message(event_type: str, data: dict[str, Any], alias: str) -> dict[str, Any]:
    """An outbox message's data without the person, by its type's shape (a type without one keeps only the
    pseudonymised customer id)."""
    return _scrub(MESSAGES.get(event_type, {"customer_id": _name}), data, alias) or {}


# What becomes of one value: given it and the customer's pseudonym, what the erased message holds instead.
Scrub = Callable[[Any, str], Any]
# A shape: a Scrub for a value, a dict naming each field's shape (fields not named are dropped), or a
# one-element list: a list whose every item has that shape.
Shape = Scrub | Mapping[str, Any] | list[Any]


def _keep(value: Any, alias: str) -> Any:
    """Not about the person: what was decided, rule ids, routes, times, campaign ids, Guard's own ids."""
    return value


def _name(value: Any, alias: str) -> Any:
    """The erased customer's name (the message was found by it): the pseudonym their decisions carry."""
    return alias


def _ref(value: Any, alias: str) -> Any:
    """An id the customer's systems gave (a case id): its keyed digest, still one per case, no longer readable."""
    return None if value is None else pseudonym(str(value))


def _text(value: Any, alias: str) -> Any:
    """Text filled from the customer's situation (an explanation)."""
    return None if value is None else ERASED_TEXT


def _request(value: Any, alias: str) -> Any:
    """A held request: the same rules as an erased decision's."""
    return scrubbed_request(value, alias) if isinstance(value, Mapping) else None


def _scrub(shape: Shape, value: Any, alias: str) -> Any:
    """`value` as its shape leaves it: each named field scrubbed its way, the unnamed ones dropped."""
    if callable(shape):
        return shape(value, alias)
    if isinstance(shape, list):
        return [_scrub(shape[0], item, alias) for item in value] if isinstance(value, list) else None
    if not isinstance(value, Mapping):
        return None
    return {key: _scrub(shape[key], item, alias) for key, item in value.items() if key in shape}


_REASONS = [{"rule_id": _keep, "outcome": _keep, "explanation": _text}]
_CASE = {"kind": _keep, "id": _ref, "opened_at": _keep}
# A decision's answer as guard.decisions.answer writes it (a hold's `decision`: the held message decided again).
_ANSWER = {"decision_id": _keep, "outcome": _keep, "route": _keep, "defer_until": _keep, "reasons": _REASONS,
           "rules_version": _keep, "evaluated_at": _keep, "dry_run": _keep, "held_from": _keep,
           "hold": {"hold_id": _keep, "expires_at": _keep,
                    "waiting_for": {"kind": _keep, "case_id": _ref, "then": _keep}}}
# guard.holds.release.HeldRow.message_data, and what each event adds to it.
_HOLD = {"hold_id": _keep, "customer_id": _name, "campaign_id": _keep, "held_decision_id": _keep,
         "request": _request}
_HOLD_SETTLED = {**_HOLD, "outcome": _keep, "decision_id": _keep, "decision": _ANSWER}
MESSAGES: dict[str, Mapping[str, Any]] = {
    # guard.decisions.care.CareRequest.data
    care.EVENT: {"customer_id": _name, "route": _keep, "rule_id": _keep, "explanation": _text, "case": _CASE,
                 "decision_id": _keep, "campaign_id": _keep},
    **{event: {**_HOLD, "expires_at": _keep} if event == "hold.expired" else _HOLD_SETTLED
       for event in HOLD_EVENTS},
}
