"""The one shape of a decision's answer: just decided, repeated for an idempotent retry, or read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from guard.core.timeutil import iso
from guard.policy.evaluate import Verdict
from guard.storage.tables.decisions import Decision


def answer_body(outcome: str, route: str | None, defer_until: datetime | None, reasons: list[dict[str, str]],
                rules_version: int | str, evaluated_at: str | None, dry_run: bool = False) -> dict[str, Any]:
    """Everything an answer says after its decision id (shared by the identical items of a batch)."""
    out: dict[str, Any] = {"outcome": outcome, "route": route, "defer_until": iso(defer_until), "reasons": reasons,
                           "rules_version": rules_version, "evaluated_at": evaluated_at}
    if dry_run:
        out["dry_run"] = True
    return out


def answer(decision_id: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The whole answer: the decision id first, then `answer_body(*args, **kwargs)`."""
    return {"decision_id": decision_id, **answer_body(*args, **kwargs)}


def verdict_body(verdict: Verdict, version: int | str, evaluated_at: str, dry_run: bool = False) -> dict[str, Any]:
    """The answer body of a verdict just reached."""
    return answer_body(verdict.outcome, verdict.route, verdict.defer_until, [r.to_dict() for r in verdict.reasons],
                       version, evaluated_at, dry_run)


def stored_version(text: str) -> int | str:
    """A stored rules version as the API shows it: the version number, or a content hash."""
    return int(text) if text.isdigit() else text


def stored_answer(decision_id: str, outcome: str, route: str | None, defer_until: datetime | None,
                  reasons: list[dict[str, str]], version: str, evaluated_at: datetime | None) -> dict[str, Any]:
    """The answer a recorded decision gave, from its stored columns."""
    return answer(decision_id, outcome, route, defer_until, reasons, stored_version(version), iso(evaluated_at))


def decision_answer(decision: Decision) -> dict[str, Any]:
    """The answer as it was first given, rebuilt from the decision's row and reasons."""
    reasons = [{"rule_id": r.rule_id, "outcome": r.outcome, "explanation": r.explanation} for r in decision.reasons]
    return stored_answer(decision.decision_id, decision.outcome, decision.route, decision.defer_until, reasons,
                         decision.rules_version, decision.evaluated_at)
