"""Retention keeps a customer's "no": suppression markers left by erasure, scrubbed decisions accounted for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create suppressions; give audit_erasures the digests of the decisions they scrubbed."""
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_digest", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erasure_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
    )
    op.create_index("ix_suppressions_customer", "suppressions", ["customer_digest"])
    with op.batch_alter_table("audit_erasures") as batch:
        batch.add_column(sa.Column("scrubbed", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("audit_erasures") as batch:
        batch.drop_column("scrubbed")
    op.drop_index("ix_suppressions_customer", table_name="suppressions")
    op.drop_table("suppressions")
