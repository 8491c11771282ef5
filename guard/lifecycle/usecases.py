"""Rule lifecycle use cases as the HTTP API and the console call them: one validated input, one answer."""

from __future__ import annotations

from typing import Any

from guard.core.schemas import load
from guard.lifecycle import schemas
from guard.lifecycle.backtest import count_decisions, run_backtest
from guard.lifecycle.jobs import record_finished, start_job
from guard.lifecycle.versions import activate, create_version, rollback
from guard.policy.ast import RuleSource
from guard.policy.ruleset import build_evaluator
from guard.storage.database import Database

# Above this many decisions a backtest runs as a background job unless the caller says otherwise.
SYNC_LIMIT = 5000




def sources_from(data: dict[str, Any]) -> list[RuleSource]:
    """Rule files given inline: `files` or one `text`."""
    if "files" in data:
        return [RuleSource(f["name"], f["text"]) for f in data["files"]]
    return [RuleSource(data["file"], data["text"])]


def new_version(db: Database, raw: Any, author: str) -> dict[str, Any]:
    """Store a version (validated and tested); activate it at once when asked."""
    data = load(schemas.CreateVersion(), raw)
    created = create_version(db, sources_from(data), author, data["message"])
    if data["activate"]:
        created["activation"] = activate(db, created["number"], author, data["message"])
        created["active"] = True
    return created


def activate_version(db: Database, raw: Any, actor: str) -> dict[str, Any]:
    """Activate a stored version for every process."""
    data = load(schemas.Activate(), raw)
    return activate(db, data["version"], actor, data["message"])


def rollback_version(db: Database, raw: Any, actor: str) -> dict[str, Any]:
    """Go back to the previously active version (or a named one)."""
    data = load(schemas.Rollback(), raw if raw is not None else {})
    return rollback(db, actor, data["message"], data["to"])


def backtest(db: Database, raw: Any, versions: Any) -> tuple[dict[str, Any], bool]:
    """A backtest report now, or a background job for long runs; the flag says which."""
    data = load(schemas.Backtest(), raw)
    since, until = data["since"], data["until"]
    if "version" in data:
        candidate, owned = versions(data["version"]), False
    else:
        candidate, owned = build_evaluator(sources_from(data)), True
    background = data["background"]
    if background is None:
        background = count_decisions(db, since, until) > SYNC_LIMIT
    params = {"version": data.get("version"), "since": raw.get("since"), "until": raw.get("until")}
    if background:
        return start_job(db, candidate, since, until, params, close_candidate=owned), True
    try:
        report = run_backtest(db, candidate, since, until, samples=data["samples"])
    finally:
        if owned:
            candidate.close()
    if data.get("version") is not None:
        record_finished(db, params, report)  # the version's page shows its latest backtest
    return report, False
