"""The one shape of a decision's answer: just decided, repeated for an idempotent retry, or read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from guard.core.timeutil import iso
from guard.policy.evaluate import Release, Verdict
from guard.storage.tables.decisions import Decision


def answer_body(outcome: str, route: str | None, defer_until: datetime | None, reasons: list[dict[str, str]],
                rules_version: int | str, evaluated_at: str | None, dry_run: bool = False,
                hold: dict[str, Any] | None = None, held_from: str | None = None) -> dict[str, Any]:
    """Everything an answer says after its decision id (shared by the identical items of a batch).

    `hold` (outcome `hold` only) and `held_from` (a held message decided again) appear only when given, so
    answers without holds are exactly what they were before holds existed."""
    out: dict[str, Any] = {"outcome": outcome, "route": route, "defer_until": iso(defer_until), "reasons": reasons,
                           "rules_version": rules_version, "evaluated_at": evaluated_at}
    if dry_run:
        out["dry_run"] = True
    if hold is not None:
        out["hold"] = hold
    if held_from is not None:
        out["held_from"] = held_from
    return out


def hold_view(hold_id: str | None, expires_at: datetime, kind: str, case_id: str, after: int) -> dict[str, Any]:
    """The `hold` of an answer: `{"hold_id", "expires_at", "waiting_for": {"kind", "case_id", "then"}}`."""
    return {"hold_id": hold_id, "expires_at": iso(expires_at),
            "waiting_for": Release(kind, case_id, after).waiting_for()}


def answer(decision_id: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The whole answer: the decision id first, then `answer_body(*args, **kwargs)`."""
    return {"decision_id": decision_id, **answer_body(*args, **kwargs)}


def verdict_body(verdict: Verdict, version: int | str, evaluated_at: str, dry_run: bool = False,
                 hold: dict[str, Any] | None = None, held_from: str | None = None) -> dict[str, Any]:
    """The answer body of a verdict just reached."""
    return answer_body(verdict.outcome, verdict.route, verdict.defer_until, [r.to_dict() for r in verdict.reasons],
                       version, evaluated_at, dry_run, hold, held_from)


def stored_version(text: str) -> int | str:
    """A stored rules version as the API shows it: the version number, or a content hash."""
    return int(text) if text.isdigit() else text


def stored_answer(decision_id: str, outcome: str, route: str | None, defer_until: datetime | None,
                  reasons: list[dict[str, str]], version: str, evaluated_at: datetime | None,
                  hold: dict[str, Any] | None = None, held_from: str | None = None) -> dict[str, Any]:
    """The answer a recorded decision gave, from its stored columns (and its hold, for outcome `hold`)."""
    return answer(decision_id, outcome, route, defer_until, reasons, stored_version(version), iso(evaluated_at),
                  hold=hold, held_from=held_from)


def decision_answer(decision: Decision, hold: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer as it was first given, rebuilt from the decision's row and reasons (and its hold's view)."""
    reasons = [{"rule_id": r.rule_id, "outcome": r.outcome, "explanation": r.explanation} for r in decision.reasons]
    return stored_answer(decision.decision_id, decision.outcome, decision.route, decision.defer_until, reasons,
                         decision.rules_version, decision.evaluated_at, hold, held_from_of(decision.request))


def held_from_of(request: Any) -> str | None:
    """The hold a recorded decision decided again (its stored request names it), or None."""
    held_from = request.get("held_from") if isinstance(request, dict) else None
    return held_from if isinstance(held_from, str) else None
