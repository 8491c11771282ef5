"""One audit record per committed group of decisions (issue 16): each decision's place in its group's tree.

Decisions chained before this revision keep their own record (kind "decision") and NULL here; the verifier
and the proof endpoint accept both forms, so nothing is re-chained.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add audit_group, audit_leaf, audit_digest to decisions, and the index a group's leaves are read by."""
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("audit_group", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("audit_leaf", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("audit_digest", sa.String(length=64), nullable=True))
    op.create_index("ix_decisions_audit_group", "decisions", ["audit_group", "audit_leaf"])


def downgrade() -> None:
    """Drop them again (decisions chained in groups then have no record that verify can read)."""
    op.drop_index("ix_decisions_audit_group", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("audit_digest")
        batch.drop_column("audit_leaf")
        batch.drop_column("audit_group")
