"""An index for reading a decision's reasons by the decision (issue 16).

The decision path reads the reasons of a customer's earlier decisions (`reasons_of`), answers repeat the
first decision's reasons, and deleting decisions cascades to them: all by `decision_pk`, which no index led
(only `(rule_id, decision_pk)`), so each such read scanned the whole table, a cost growing with the log.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index decision_reasons by decision, in reason order."""
    op.create_index("ix_decision_reasons_decision", "decision_reasons", ["decision_pk", "position"])


def downgrade() -> None:
    """Drop the index again."""
    op.drop_index("ix_decision_reasons_decision", table_name="decision_reasons")
