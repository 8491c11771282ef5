"""Rule lifecycle use cases as the HTTP API and the console call them: one validated input, one answer."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError

from guard.errors import ValidationFailed
from guard.lifecycle import schemas
from guard.lifecycle.backtest import count_decisions, run_backtest
from guard.lifecycle.jobs import record_finished, start_job
from guard.lifecycle.versions import activate, create_version, rollback
from guard.rules.model import RuleSource
from guard.rules.ruleset import build_evaluator
from guard.service import Guard

# Above this many decisions a backtest runs as a background job unless the caller says otherwise.
SYNC_LIMIT = 5000


def load(schema: Schema, raw: Any) -> dict[str, Any]:
    """Validated input, or ValidationFailed with field details."""
    if not isinstance(raw, dict):
        raise ValidationFailed("The body is a JSON object.", {"_schema": ["A JSON object."]})
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise ValidationFailed("The request is not valid.", exc.messages) from None


def sources_from(data: dict[str, Any]) -> list[RuleSource]:
    """Rule files given inline: `files` or one `text`."""
    if "files" in data:
        return [RuleSource(f["name"], f["text"]) for f in data["files"]]
    return [RuleSource(data["file"], data["text"])]


def new_version(guard: Guard, raw: Any, author: str) -> dict[str, Any]:
    """Store a version (validated and tested); activate it at once when asked."""
    data = load(schemas.CreateVersion(), raw)
    created = create_version(guard.db, sources_from(data), author, data["message"])
    if data["activate"]:
        created["activation"] = activate(guard.db, created["number"], author, data["message"])
        created["active"] = True
    return created


def activate_version(guard: Guard, raw: Any, actor: str) -> dict[str, Any]:
    """Activate a stored version for every process."""
    data = load(schemas.Activate(), raw)
    return activate(guard.db, data["version"], actor, data["message"])


def rollback_version(guard: Guard, raw: Any, actor: str) -> dict[str, Any]:
    """Go back to the previously active version (or a named one)."""
    data = load(schemas.Rollback(), raw if raw is not None else {})
    return rollback(guard.db, actor, data["message"], data["to"])


def backtest(guard: Guard, raw: Any, versions: Any) -> tuple[dict[str, Any], bool]:
    """A backtest report now, or a background job for long runs; the flag says which."""
    data = load(schemas.Backtest(), raw)
    since, until = data["since"], data["until"]
    if "version" in data:
        candidate, owned = versions(data["version"]), False
    else:
        candidate, owned = build_evaluator(sources_from(data)), True
    background = data["background"]
    if background is None:
        background = count_decisions(guard.db, since, until) > SYNC_LIMIT
    params = {"version": data.get("version"), "since": raw.get("since"), "until": raw.get("until")}
    if background:
        return start_job(guard.db, candidate, since, until, params, close_candidate=owned), True
    try:
        report = run_backtest(guard.db, candidate, since, until, samples=data["samples"])
    finally:
        if owned:
            candidate.close()
    if data.get("version") is not None:
        record_finished(guard.db, params, report)  # the version's page shows its latest backtest
    return report, False
