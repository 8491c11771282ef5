"""Care notifications sent (issue 15 part 2): the care team is told once per customer, route and open case.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create care_notifications."""
    op.create_table(
        "care_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("case_key", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_notifications")),
        sa.UniqueConstraint("customer_id", "route", "case_key", name="uq_care_notifications_key"),
    )
    op.create_index(op.f("ix_care_notifications_customer_id"), "care_notifications", ["customer_id"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_index(op.f("ix_care_notifications_customer_id"), table_name="care_notifications")
    op.drop_table("care_notifications")
