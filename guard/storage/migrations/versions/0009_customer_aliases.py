"""Identity links: another system's name for a customer.

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create customer_aliases."""
    op.create_table(
        "customer_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_aliases")),
        sa.UniqueConstraint("alias", name=op.f("uq_customer_aliases_alias")),
    )
    op.create_index("ix_customer_aliases_customer", "customer_aliases", ["customer_id"])


def downgrade() -> None:
    """Drop it again."""
    op.drop_index("ix_customer_aliases_customer", table_name="customer_aliases")
    op.drop_table("customer_aliases")
