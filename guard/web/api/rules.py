"""`/v1/rules`: the active rules, and checking rule files before they are deployed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from guard.core.schemas import load
from guard.policy.ast import Rule, RuleSource
from guard.policy.ruleset import check_sources
from guard.web.shared.auth import require
from guard.web.shared.body import is_yaml, json_body, text_body
from guard.web.shared.context import current_guard
from guard.web.shared.schemas import RulesValidateQuery, RulesValidateSchema, query

bp = Blueprint("rules", __name__)


def rule_summary(rule: Rule) -> dict[str, Any]:
    """A rule as `GET /v1/rules` lists it."""
    return {
        "id": rule.id,
        "description": rule.description,
        "priority": rule.priority,
        "exempt": rule.exempt,
        "file": rule.location.file,
        "line": rule.location.line,
        "cases": [{"outcome": c.outcome, "route": c.route, "notify": c.notify, "explanation": c.explanation}
                  for c in rule.cases],
    }


@bp.get("/v1/rules")
@require("read")
def rules() -> Response:
    """The active rules version and its rules."""
    evaluator = current_guard().evaluator
    ruleset = evaluator.compiled.ruleset
    return jsonify({
        "version": evaluator.version,
        "files": [s.name for s in ruleset.sources],
        "rules": [rule_summary(r) for r in ruleset.rules],
        "warnings": [w.to_dict() for w in ruleset.warnings],
    })


def _sources() -> list[RuleSource]:
    """The rule files of the request: a YAML body, or JSON with `text` or `files`."""
    name = query(RulesValidateQuery())["file"]
    if is_yaml():
        return [RuleSource(name, text_body())]
    data = load(RulesValidateSchema(), json_body(), "request")
    if "files" in data:
        return [RuleSource(f["name"], f["text"]) for f in data["files"]]
    return [RuleSource(data["file"], data["text"])]


@bp.post("/v1/rules/validate")
@require("admin")
def validate_rules() -> tuple[Response, int]:
    """Every error with file, line and column (422), or valid (200); nothing is activated."""
    problems = check_sources(_sources())
    errors = [p.to_dict() for p in problems if p.severity == "error"]
    warnings = [p.to_dict() for p in problems if p.severity != "error"]
    if not errors:
        return jsonify({"valid": True, "warnings": warnings}), 200
    message = f"{len(errors)} error(s) in the rule files."
    return jsonify({
        "valid": False,
        "errors": errors,
        "warnings": warnings,
        "error": {"code": "rules_invalid", "message": message, "details": {"errors": errors}},
    }), 422
