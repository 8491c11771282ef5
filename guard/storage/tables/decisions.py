"""The audit record of every decision, written in the same transaction as the answer; and the reviewers'
index of it (reason rows, facets), built behind the writer by the projector (guard.decisions.projector)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class MatchedRule(NamedTuple):
    """A rule that matched a decision, as stored inline in its row."""

    rule_id: str
    outcome: str
    explanation: str


class Decision(Base):
    """One decision: the request, the outcome, every reason, the rules version and the facts seen.

    Only what the next decision must see is indexed here (caps: customer and send time; idempotency keys;
    the decision id); what reviewers filter by is indexed in DecisionFacet and DecisionReason.
    """

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_customer_send_at", "customer_id", "send_at"),
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
    # Every matched rule in order (the winner first), as answers show them: {"rule_id", "outcome", "explanation"}.
    matched: Mapped[list[dict[str, str]]] = mapped_column("reasons", JSON, default=list, server_default="[]")

    @property
    def reasons(self) -> list[MatchedRule]:
        """The matched rules, the winner first."""
        return [MatchedRule(r["rule_id"], r["outcome"], r["explanation"]) for r in self.matched or ()]


class DecisionReason(Base):
    """A rule that matched a decision (position 0 is the winner): the projector's index by rule."""

    __tablename__ = "decision_reasons"
    __table_args__ = (Index("ix_decision_reasons_rule", "rule_id", "decision_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_pk: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text)


class DecisionFacet(Base):
    """What reviewers filter and count decisions by, one row per projected decision (the projector's)."""

    __tablename__ = "decision_facets"
    __table_args__ = (
        Index("ix_decision_facets_campaign", "campaign_id", "decision_pk"),
        Index("ix_decision_facets_evaluated", "evaluated_at"),
    )

    # No foreign key: checking it would cost the projector a lookup (on PostgreSQL a row lock) per decision;
    # a purge deletes the facets of the decisions it removes.
    decision_pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    campaign_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str] = mapped_column(String(10))
    rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the winning rule; none matched: null


class Projection(Base):
    """How far a projection has read the decision log: every decision with id <= upto is projected."""

    __tablename__ = "projections"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    upto: Mapped[int] = mapped_column(BigInteger)
    # The evaluated_at of the newest decision projected (null: none yet): reviewers' reads are "as of" it.
    as_of: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the projector last read the log to its end: every decision committed before it is projected.
    caught_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
