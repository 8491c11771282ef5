"""Index behind the writer (issue 16, decision 2): a decision's matched rules inline in its row; reason rows
and the reviewers' facets (campaign, time, outcome, winning rule) built by the projector from the log.

decisions gains `reasons` (JSON, filled from decision_reasons for existing rows) and loses the indexes by
campaign and by evaluation time, which move to decision_facets (filled here for existing rows). projections
holds the projector's cursor; existing rows are projected already, so it starts at the newest decision.

Revision ID: 0016
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INLINE_SQLITE = (
    "UPDATE decisions SET reasons = (SELECT json_group_array(json(m)) FROM (SELECT json_object('rule_id', rule_id, "
    "'outcome', outcome, 'explanation', explanation) AS m FROM decision_reasons r WHERE r.decision_pk = decisions.id "
    "ORDER BY r.position)) WHERE EXISTS (SELECT 1 FROM decision_reasons r WHERE r.decision_pk = decisions.id)")
_INLINE_POSTGRES = (
    "UPDATE decisions SET reasons = (SELECT json_agg(json_build_object('rule_id', rule_id, 'outcome', outcome, "
    "'explanation', explanation) ORDER BY r.position) FROM decision_reasons r WHERE r.decision_pk = decisions.id) "
    "WHERE EXISTS (SELECT 1 FROM decision_reasons r WHERE r.decision_pk = decisions.id)")


def upgrade() -> None:
    """Inline reasons, facets for existing decisions, the projector's cursor; drop the two moved indexes."""
    op.add_column("decisions", sa.Column("reasons", sa.JSON(), server_default="[]", nullable=False))
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_INLINE_POSTGRES if postgres else _INLINE_SQLITE)
    op.create_table(
        "decision_facets",
        sa.Column("decision_pk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("campaign_id", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        # No foreign key: checking it would cost the projector a lookup (on PostgreSQL a row lock, written to
        # the decision's page) per decision; a purge deletes the facets of the decisions it removes.
        sa.PrimaryKeyConstraint("decision_pk", name=op.f("pk_decision_facets")),
    )
    op.create_index("ix_decision_facets_campaign", "decision_facets", ["campaign_id", "decision_pk"])
    op.create_index("ix_decision_facets_evaluated", "decision_facets", ["evaluated_at"])
    op.execute("INSERT INTO decision_facets (decision_pk, evaluated_at, campaign_id, outcome, rule_id) "
               "SELECT d.id, d.evaluated_at, d.campaign_id, d.outcome, (SELECT r.rule_id FROM decision_reasons r "
               "WHERE r.decision_pk = d.id AND r.position = 0) FROM decisions d")
    op.create_table(
        "projections",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("upto", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projections")),
    )
    op.execute("INSERT INTO projections (name, upto, as_of) SELECT 'decisions', COALESCE(max(id), 0), "
               "(SELECT evaluated_at FROM decisions ORDER BY id DESC LIMIT 1) FROM decisions")
    op.drop_index("ix_decisions_campaign", table_name="decisions")
    op.drop_index("ix_decisions_evaluated", table_name="decisions")


def downgrade() -> None:
    """The indexes back on decisions; reason rows for decisions not projected yet; inline reasons dropped."""
    op.create_index("ix_decisions_campaign", "decisions", ["campaign_id"])
    op.create_index("ix_decisions_evaluated", "decisions", ["evaluated_at"])
    bind = op.get_bind()
    upto = bind.execute(sa.text("SELECT upto FROM projections WHERE name = 'decisions'")).scalar() or 0
    rows = bind.execute(sa.text("SELECT id, reasons FROM decisions WHERE id > :upto"), {"upto": upto}).all()
    reasons = [{"pk": pk, "position": i, "rule_id": r["rule_id"], "outcome": r["outcome"],
                "explanation": r["explanation"]}
               for pk, inline in rows for i, r in enumerate(json.loads(inline) if isinstance(inline, str) else inline)]
    if reasons:
        bind.execute(sa.text("INSERT INTO decision_reasons (decision_pk, position, rule_id, outcome, explanation) "
                             "VALUES (:pk, :position, :rule_id, :outcome, :explanation)"), reasons)
    op.drop_table("projections")
    op.drop_index("ix_decision_facets_evaluated", table_name="decision_facets")
    op.drop_index("ix_decision_facets_campaign", table_name="decision_facets")
    op.drop_table("decision_facets")
    # Not a batch rebuild: on SQLite, dropping the old table would cascade into decision_reasons.
    op.execute("ALTER TABLE decisions DROP COLUMN reasons")
