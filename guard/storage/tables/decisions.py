"""The audit record of every decision, written in the same transaction as the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from guard.storage.database import Base, UTCDateTime


class Decision(Base):
    """One decision: the request, the outcome, every reason, the rules version and the facts seen."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_customer_send_at", "customer_id", "send_at"),
        Index("ix_decisions_campaign", "campaign_id"),
        Index("ix_decisions_evaluated", "evaluated_at"),
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

    reasons: Mapped[list[DecisionReason]] = relationship(
        back_populates="decision", order_by="DecisionReason.position", cascade="all, delete-orphan",
        lazy="selectin",
    )


class DecisionReason(Base):
    """A rule that matched a decision; position 0 is the winner."""

    __tablename__ = "decision_reasons"
    __table_args__ = (
        Index("ix_decision_reasons_rule", "rule_id", "decision_pk"),
        # A decision's reasons are read by the decision (earlier decisions, repeats, cascading deletes).
        Index("ix_decision_reasons_decision", "decision_pk", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_pk: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text)

    decision: Mapped[Decision] = relationship(back_populates="reasons")
