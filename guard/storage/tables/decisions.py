"""The audit record of every decision, written in the same transaction as the answer; and the reviewers'
index of it (by rule, by campaign, by time), built behind the writer by the projector
(guard.decisions.projector)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class MatchedRule(NamedTuple):
    """A rule that matched a decision, as its row holds it."""

    rule_id: str
    outcome: str
    explanation: str


class Decision(Base):
    """One decision: the request, the outcome, every reason, the rules version and the facts seen.

    Only what the next decision must see is indexed here (caps: customer and send time; idempotency keys;
    the decision id; its audit group); what reviewers filter by is indexed behind the writer.
    """

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_customer_send_at", "customer_id", "send_at"),
        Index("ix_decisions_audit_group", "audit_group", "audit_leaf"),
        # Idempotency keys are per API key: another caller's key never answers for yours.
        UniqueConstraint("idempotency_scope", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    send_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(10))
    route: Mapped[str | None] = mapped_column(String(200), nullable=True)
    defer_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rules_version: Mapped[str] = mapped_column(String(64))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    idempotency_scope: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the key's id; 0: none
    request_hash: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    api_key_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Its place in the audit chain: the group record (kind "decisions", ref = audit_group) whose Merkle root
    # holds this decision's leaf (audit_digest) at audit_leaf. All three NULL: chained by a record of its own.
    audit_group: Mapped[int | None] = mapped_column(Integer, nullable=True)
    audit_leaf: Mapped[int | None] = mapped_column(Integer, nullable=True)
    audit_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Every matched rule in order (the winner first), as answers show them: {"rule_id", "outcome", "explanation"}.
    # Inline, so that caps and idempotent repeats read them with the row and never wait for the projector.
    matched: Mapped[list[dict[str, str]]] = mapped_column("reasons", JSON, default=list, server_default="[]")

    @property
    def reasons(self) -> list[MatchedRule]:
        """The matched rules, the winner first."""
        return [MatchedRule(r["rule_id"], r["outcome"], r["explanation"]) for r in self.matched or ()]


# The projector's tables. No foreign keys: checking one costs the projector a lookup per row (on PostgreSQL a
# row lock); a purge deletes the rows of the decisions it removes. Clustered on their keys (SQLite: WITHOUT
# ROWID), one B-tree entry per row.

class DecisionRule(Base):
    """A rule that matched a decision (position 0 won): reviewers filter and count by rule."""

    __tablename__ = "decision_rules"
    __table_args__ = {"sqlite_with_rowid": False}

    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    decision_pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class DecisionCampaign(Base):
    """A decision sent for a campaign (decisions without one have no row): reviewers filter by campaign."""

    __tablename__ = "decision_campaigns"
    __table_args__ = {"sqlite_with_rowid": False}

    campaign_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    decision_pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class DecisionMinute(Base):
    """A sparse time index: every decision evaluated in this minute (seconds since the epoch // 60) has an id
    in first_pk..last_pk. Reviewers' time filters read the ids in that range and check the time itself."""

    __tablename__ = "decision_minutes"

    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_pk: Mapped[int] = mapped_column(BigInteger)
    last_pk: Mapped[int] = mapped_column(BigInteger)


class Projection(Base):
    """How far a projection has read the decision log: every decision with id <= upto is projected."""

    __tablename__ = "projections"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    upto: Mapped[int] = mapped_column(BigInteger)
    # The evaluated_at of the newest decision projected (null: none yet): reviewers' reads are "as of" it.
    as_of: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the projector last read the log to its end: every decision committed before it is projected.
    caught_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
