"""Held messages (issue 15, holds): waiting for a case to close, released by the server's hold worker.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create holds."""
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hold_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("campaign_id", sa.String(length=200), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("waiting_kind", sa.String(length=20), nullable=False),
        sa.Column("waiting_case_id", sa.String(length=200), nullable=False),
        sa.Column("waiting_after", sa.Integer(), nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolution_decision_id", sa.String(length=36), nullable=True),
        sa.Column("api_key_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_holds_hold_id")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_holds_decision_id")),
    )
    op.create_index("ix_holds_customer_status", "holds", ["customer_id", "status"])
    op.create_index("ix_holds_status_release", "holds", ["status", "release_at"])
    op.create_index("ix_holds_status_expires", "holds", ["status", "expires_at"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_index("ix_holds_status_expires", table_name="holds")
    op.drop_index("ix_holds_status_release", table_name="holds")
    op.drop_index("ix_holds_customer_status", table_name="holds")
    op.drop_table("holds")
