"""Audit chain: hash-chained records, checkpoints after purges, erasures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column:
    """A UTC timestamp column (guard.storage.database.UTCDateTime stores into this type)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create audit_records, audit_checkpoints and audit_erasures."""
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        _when("at"),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_records")),
    )
    op.create_index("ix_audit_records_ref", "audit_records", ["kind", "ref"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto_seq", sa.Integer(), nullable=False),
        sa.Column("upto_hash", sa.String(length=64), nullable=False),
        _when("before"),
        _when("created_at"),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_digest", sa.String(length=64), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_erasures")),
    )


def downgrade() -> None:
    """Drop the audit tables."""
    op.drop_table("audit_erasures")
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_records_ref", table_name="audit_records")
    op.drop_table("audit_records")
