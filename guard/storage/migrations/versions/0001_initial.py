"""Initial schema: API keys, events, decisions and their reasons.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    """A UTC timestamp column (guard.storage.database.UTCDateTime stores into this type)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the four tables with their keys, unique constraints and indexes."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        _when("created_at"),
        _when("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        _when("occurred_at"),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        _when("received_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    op.create_index("ix_events_customer_occurred", "events", ["customer_id", "occurred_at"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("campaign_id", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        _when("send_at"),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=True),
        _when("defer_until", nullable=True),
        sa.Column("rules_version", sa.String(length=64), nullable=False),
        _when("evaluated_at"),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("api_key_name", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_decisions_decision_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_decisions_idempotency_key")),
    )
    op.create_index("ix_decisions_customer_send_at", "decisions", ["customer_id", "send_at"])
    op.create_index("ix_decisions_campaign", "decisions", ["campaign_id"])
    op.create_index("ix_decisions_evaluated", "decisions", ["evaluated_at"])
    op.create_table(
        "decision_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_pk", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["decision_pk"], ["decisions.id"], ondelete="CASCADE",
                                name=op.f("fk_decision_reasons_decision_pk_decisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_reasons")),
    )
    op.create_index("ix_decision_reasons_rule", "decision_reasons", ["rule_id", "decision_pk"])


def downgrade() -> None:
    """Drop everything, children first."""
    op.drop_index("ix_decision_reasons_rule", table_name="decision_reasons")
    op.drop_table("decision_reasons")
    for index in ("ix_decisions_evaluated", "ix_decisions_campaign", "ix_decisions_customer_send_at"):
        op.drop_index(index, table_name="decisions")
    op.drop_table("decisions")
    op.drop_index("ix_events_customer_occurred", table_name="events")
    op.drop_table("events")
    op.drop_table("api_keys")
