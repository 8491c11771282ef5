"""Rule lifecycle: stored rule versions, the activation log, backtest jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    """A UTC timestamp column (guard.storage.database.UTCDateTime stores into this type)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create rule_versions, rule_activations and backtest_jobs."""
    op.create_table(
        "rule_versions",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _when("created_at"),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("test_summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_rule_versions")),
    )
    op.create_table(
        "rule_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _when("activated_at"),
        sa.ForeignKeyConstraint(["version"], ["rule_versions.number"],
                                name=op.f("fk_rule_activations_version_rule_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_activations")),
    )
    op.create_table(
        "backtest_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _when("created_at"),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_jobs")),
    )


def downgrade() -> None:
    """Drop the lifecycle tables."""
    op.drop_table("backtest_jobs")
    op.drop_table("rule_activations")
    op.drop_table("rule_versions")
