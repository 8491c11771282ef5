"""The decide use case: validate, look at the situation, evaluate, and record the audit in one transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guard.canonical import content_hash
from guard.db import Database
from guard.decisions.evaluate import Evaluator, Verdict
from guard.decisions.message import Message, PriorDecision
from guard.decisions.models import Decision, DecisionReason
from guard.decisions.schemas import DecisionRequestSchema, to_message
from guard.errors import IdempotencyConflict, ValidationFailed
from guard.situation.queries import situation_at
from guard.timeutil import iso, utcnow

_schema = DecisionRequestSchema()


def validate_request(raw: Any) -> dict[str, Any]:
    """A validated decision request, or ValidationFailed with field details."""
    if not isinstance(raw, dict):
        raise ValidationFailed("A decision request is a JSON object.", {"_schema": ["A JSON object."]})
    try:
        return _schema.load(raw)
    except ValidationError as exc:
        raise ValidationFailed("The decision request is not valid.", exc.messages) from None


def decide(db: Database, evaluator: Evaluator, raw: Any, key_name: str | None = None) -> dict[str, Any]:
    """Answer one planned send; unless dry_run, the answer and its audit record are committed together."""
    data = validate_request(raw)
    request_hash = content_hash({k: v for k, v in raw.items() if k != "dry_run"})
    now = utcnow()
    message = to_message(data, data["customer_id"], now)
    key = data.get("idempotency_key")
    if data["dry_run"]:
        with db.sessions() as session:
            verdict = _evaluate(session, evaluator, message)
        return _response(str(uuid.uuid4()), verdict, evaluator.version, now, dry_run=True)
    for attempt in range(3):
        try:
            with db.transaction() as session:
                if key:
                    previous = _previous(session, key, request_hash)
                    if previous is not None:
                        return previous
                _lock_customer(session, message.customer_id)
                verdict = _evaluate(session, evaluator, message)
                decision_id = str(uuid.uuid4())
                _record(session, decision_id, data, raw, request_hash, message, verdict, evaluator.version, now,
                        key_name)
            return _response(decision_id, verdict, evaluator.version, now)
        except IntegrityError:
            # A concurrent request with the same idempotency key won: answer with its decision.
            if not key or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _previous(session: Session, key: str, request_hash: str) -> dict[str, Any] | None:
    decision = session.scalars(select(Decision).where(Decision.idempotency_key == key)).first()
    if decision is None:
        return None
    if decision.request_hash != request_hash:
        raise IdempotencyConflict("This idempotency_key was used with a different request.",
                                  {"idempotency_key": key, "decision_id": decision.decision_id})
    return decision_response(decision)


def _lock_customer(session: Session, customer_id: str) -> None:
    """Serialise decisions per customer so frequency caps count every earlier decision."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": customer_id})
    # SQLite: the transaction began IMMEDIATE, which already serialises writers.


def _evaluate(session: Session, evaluator: Evaluator, message: Message) -> Verdict:
    situation = situation_at(session, message.customer_id, message.send_at)
    history = _history(session, evaluator, message)
    return evaluator.evaluate(message, situation, history)


def _history(session: Session, evaluator: Evaluator, message: Message) -> list[PriorDecision]:
    windows = [p.within or 0 for p in evaluator.compiled.probes if p.source == "decisions"]
    if not windows:
        return []
    start = message.send_at - timedelta(seconds=max(windows))
    rows = session.scalars(
        select(Decision).where(Decision.customer_id == message.customer_id, Decision.send_at > start,
                               Decision.send_at <= message.send_at)
    )
    return [
        PriorDecision(d.send_at, d.purpose, d.channel, d.outcome, d.campaign_id,
                      tuple(r.rule_id for r in d.reasons))
        for d in rows
    ]


def _record(session: Session, decision_id: str, data: dict[str, Any], raw: dict[str, Any], request_hash: str,
            message: Message, verdict: Verdict, version: int | str, now: datetime, key_name: str | None
            ) -> None:
    request = {k: v for k, v in raw.items() if k != "dry_run"}
    request.setdefault("send_at", iso(message.send_at))
    decision = Decision(
        decision_id=decision_id, customer_id=message.customer_id, campaign_id=message.campaign_id,
        channel=message.channel, purpose=message.purpose, send_at=message.send_at, outcome=verdict.outcome,
        route=verdict.route, defer_until=verdict.defer_until, rules_version=str(version), evaluated_at=now,
        idempotency_key=data.get("idempotency_key"), request_hash=request_hash, request=request,
        facts=verdict.facts, api_key_name=key_name,
    )
    decision.reasons = [
        DecisionReason(position=i, rule_id=r.rule_id, outcome=r.outcome, explanation=r.explanation)
        for i, r in enumerate(verdict.reasons)
    ]
    session.add(decision)
    session.flush()


def _response(decision_id: str, verdict: Verdict, version: int | str, now: datetime, dry_run: bool = False
              ) -> dict[str, Any]:
    out = {
        "decision_id": decision_id,
        "outcome": verdict.outcome,
        "route": verdict.route,
        "defer_until": iso(verdict.defer_until),
        "reasons": [r.to_dict() for r in verdict.reasons],
        "rules_version": version,
        "evaluated_at": iso(now),
    }
    if dry_run:
        out["dry_run"] = True
    return out


def decision_response(decision: Decision) -> dict[str, Any]:
    """The answer as it was first given, rebuilt from the audit record."""
    return {
        "decision_id": decision.decision_id,
        "outcome": decision.outcome,
        "route": decision.route,
        "defer_until": iso(decision.defer_until),
        "reasons": [{"rule_id": r.rule_id, "outcome": r.outcome, "explanation": r.explanation}
                    for r in decision.reasons],
        "rules_version": stored_version(decision.rules_version),
        "evaluated_at": iso(decision.evaluated_at),
    }


def stored_version(text: str) -> int | str:
    """A stored rules version as the API shows it: the version number, or a content hash."""
    return int(text) if text.isdigit() else text
