"""Customers' lock buckets: one row per bucket, locked FOR UPDATE by decisions on PostgreSQL (row locks take no
room in the server's bounded shared lock table, unlike the advisory locks they replace).

The table is created on both databases (the schema stays the models'), filled only on PostgreSQL: SQLite
serialises writers anyway and never reads it. Its size must match guard.situation.history.LOCK_BUCKETS.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUCKETS = 2**18  # 262,144 rows: about 9 MB of table and 6 MB of index on PostgreSQL


def upgrade() -> None:
    """Create customer_lock_buckets; on PostgreSQL fill it with 0..BUCKETS-1."""
    if op.get_bind().dialect.name != "postgresql":
        op.create_table("customer_lock_buckets", sa.Column("bucket", sa.Integer(), autoincrement=False),
                        sa.PrimaryKeyConstraint("bucket", name="pk_customer_lock_buckets"))
        return
    # Filled before its key is added: one index build instead of 262,144 insertions (about half the time).
    op.create_table("customer_lock_buckets", sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False))
    op.execute(f"INSERT INTO customer_lock_buckets SELECT generate_series(0, {BUCKETS - 1})")
    op.create_primary_key("pk_customer_lock_buckets", "customer_lock_buckets", ["bucket"])


def downgrade() -> None:
    """Drop it (decisions of a Guard of an earlier revision lock with advisory locks again)."""
    op.drop_table("customer_lock_buckets")
