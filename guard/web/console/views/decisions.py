"""The audit log: filter, page through, open one decision's full explanation, download the selection."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.wrappers import Response

from guard.core.errors import GuardError, NotFound, ValidationFailed
from guard.core.vocabulary import CHANNELS, OUTCOMES, PURPOSES
from guard.decisions import projector
from guard.decisions.queries import get_decision, list_decisions
from guard.policy.compiler import CompiledRuleSet
from guard.web.console.blueprint import bp
from guard.web.console.filters import chosen, validated
from guard.web.console.readable import fact_rows, questions, reason_routes
from guard.web.console.views.common import page
from guard.web.shared.context import current_guard
from guard.web.shared.downloads import export_response
from guard.web.shared.schemas import DecisionExportQuery, DecisionListQuery

PAGE_SIZE = 50


def _rule_ids() -> list[str]:
    """The active rules' ids, offered in the rule filter."""
    return sorted(rule.id for rule in current_guard().evaluator.compiled.ruleset.rules)


@bp.get("/console/decisions")
def decisions() -> tuple[str, int]:
    """A filtered page of decisions, newest first."""
    shown = chosen(request.args)
    extra: dict[str, Any] = {"limit": PAGE_SIZE}
    if request.args.get("cursor"):
        extra["cursor"] = request.args["cursor"]
    filters, errors = validated(DecisionListQuery(), shown, extra)
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    db = current_guard().db
    lag = projector.lag(db)  # read before the list: it is at least as new as it says
    if not errors:
        with db.sessions() as session:
            result = list_decisions(session, filters)
    return page("decisions.html", 422 if errors else 200, shown=shown, errors=errors, result=result, projection=lag,
                first_page="cursor" not in extra, outcomes=OUTCOMES, channels=CHANNELS, purposes=PURPOSES,
                rule_ids=_rule_ids())


@bp.get("/console/decisions/export")
def export_decisions() -> Response:
    """The current selection as a CSV or NDJSON download (the same stream as GET /v1/decisions/export)."""
    filters, errors = validated(DecisionExportQuery(), chosen(request.args),
                                {"format": request.args.get("format", "csv")})
    if errors:
        raise ValidationFailed("The filters are not valid.", errors)
    return export_response(filters, filters.pop("format"))


@bp.get("/console/decisions/<decision_id>")
def decision(decision_id: str) -> tuple[str, int]:
    """One decision explained: the request, every matched rule, the winner, the version and the facts."""
    if "\x00" in decision_id:
        raise NotFound(f"No decision {decision_id!r}.")
    with current_guard().db.sessions() as session:
        record = get_decision(session, decision_id)
    facts = record.get("facts") or {}
    compiled = _rules_of(record.get("rules_version"))
    return page("decision.html", record=record, facts=facts, fact_rows=fact_rows(facts.get("fields") or {}),
                questions=questions(facts.get("history") or [], compiled),
                routes=reason_routes(record.get("reasons") or [], compiled))


def _rules_of(version: Any) -> CompiledRuleSet | None:
    """The rules version that decided, to say which rule asked what; None for rules never stored."""
    if not isinstance(version, int):
        return None
    try:
        return current_guard().rules.version(version).compiled
    except GuardError:
        return None
