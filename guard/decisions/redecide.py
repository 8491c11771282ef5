"""Deciding a held message again (issue 15): the release worker in guard.holds calls this inside the
transaction that changes the hold, so the decision, the hold's new status and its webhook commit together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guard.core.message import to_message
from guard.core.timeutil import iso
from guard.decisions.answer import hold_view, verdict_body
from guard.decisions.care import CareRequest, tell_care
from guard.decisions.holding import held
from guard.decisions.record import Recorder
from guard.decisions.schemas import load_held_request
from guard.decisions.service import load_context
from guard.policy.evaluate import Evaluator, Verdict
from guard.situation.history import identities_of, lock_customers
from guard.storage.sql import Sql


@dataclass(frozen=True)
class Redecided:
    """A held message decided again: the verdict reached, and the recorded decision's answer."""

    verdict: Verdict
    answer: dict[str, Any]


def decide_again(sql: Sql, evaluator: Evaluator, hold_id: str, request: dict[str, Any], expires_at: datetime,
                 now: datetime) -> Redecided:
    """Decide a held message again at `now` with these rules and the situation now true, recorded like any
    decision (audited, chained) with `held_from` naming the hold, in the caller's transaction.

    A block that still says how it clears is recorded as `hold` (the hold goes on waiting, for its case)."""
    data = load_held_request(request)
    message = to_message({**data, "send_at": max(data["send_at"], now)}, data["customer_id"], now)
    identities = identities_of(sql, [message.customer_id])
    lock_customers(sql, {message.customer_id, identities.of(message.customer_id)})
    context = load_context(sql, evaluator, [message], identities)
    verdict = context.evaluate(evaluator, message)
    recorded = held(verdict) if verdict.release is not None else verdict
    raw = {**request, "send_at": iso(message.send_at), "held_from": hold_id}
    recorder = Recorder(sql, evaluator.version, now, 1)
    answer = recorder.add(raw, None, message, recorded, None, "", None)
    recorder.write()
    if recorded.notify is not None:  # decided again into a notifying reroute: care is told as for any decision
        tell_care(sql, [CareRequest(identities.of(message.customer_id), message, answer["decision_id"],
                                    recorded.notify)], now)
    hold = None
    if verdict.release is not None:
        release = verdict.release
        hold = hold_view(hold_id, expires_at, release.kind, release.case_id, release.after)
    answer = {"decision_id": answer["decision_id"],
              **verdict_body(recorded, evaluator.version, iso(now) or "", hold=hold, held_from=hold_id)}
    return Redecided(verdict, answer)
