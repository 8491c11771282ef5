"""Idempotency keys are scoped per API key (decisions.idempotency_scope: the owning key's id); events are
indexed by customer and type, so a decision reads only the types its rules ask about.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add idempotency_scope (0: no key), fill it for keyed decisions, and make keys unique per scope."""
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("idempotency_scope", sa.Integer(), server_default="0", nullable=False))
    # A decision recorded before this revision belongs to the oldest key of the name that asked for it, so
    # a client retrying across the upgrade still gets its first answer.
    op.execute("UPDATE decisions SET idempotency_scope = COALESCE((SELECT min(k.id) FROM api_keys k "
               "WHERE k.name = decisions.api_key_name), 0) WHERE idempotency_key IS NOT NULL")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_constraint("uq_decisions_idempotency_key", type_="unique")
        batch.create_unique_constraint("uq_decisions_idempotency_scope", ["idempotency_scope", "idempotency_key"])
    op.create_index("ix_events_customer_type", "events", ["customer_id", "type", "occurred_at"])


def downgrade() -> None:
    """Keys become global again (fails if two keys used the same idempotency key meanwhile)."""
    op.drop_index("ix_events_customer_type", table_name="events")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_constraint("uq_decisions_idempotency_scope", type_="unique")
        batch.create_unique_constraint("uq_decisions_idempotency_key", ["idempotency_key"])
        batch.drop_column("idempotency_scope")
