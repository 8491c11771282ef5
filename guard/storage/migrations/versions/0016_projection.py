"""Index behind the writer (issue 16, decision 2): a decision's matched rules inline in its row; what reviewers
filter by (rule, campaign, time) indexed by the projector from the committed log.

decisions gains `reasons` (JSON, filled from decision_reasons) and loses its indexes by campaign and by
evaluation time. decision_reasons gives way to decision_rules (rule, decision, position: no explanation, which
stays inline), decision_campaigns (only decisions with a campaign) and decision_minutes (a sparse time -> id
map), all filled here for existing rows; projections holds the projector's cursor, at the newest decision.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INLINE = {
    "sqlite": "UPDATE decisions SET reasons = (SELECT json_group_array(json(m)) FROM (SELECT json_object('rule_id', "
              "rule_id, 'outcome', outcome, 'explanation', explanation) AS m FROM decision_reasons r "
              "WHERE r.decision_pk = decisions.id ORDER BY r.position)) "
              "WHERE EXISTS (SELECT 1 FROM decision_reasons r WHERE r.decision_pk = decisions.id)",
    "postgresql": "UPDATE decisions SET reasons = (SELECT json_agg(json_build_object('rule_id', rule_id, 'outcome', "
                  "outcome, 'explanation', explanation) ORDER BY r.position) FROM decision_reasons r "
                  "WHERE r.decision_pk = decisions.id) "
                  "WHERE EXISTS (SELECT 1 FROM decision_reasons r WHERE r.decision_pk = decisions.id)",
}
_MINUTE = {"sqlite": "CAST(strftime('%s', evaluated_at) AS INTEGER) / 60",
           "postgresql": "CAST(floor(extract(epoch FROM evaluated_at) / 60) AS BIGINT)"}


def upgrade() -> None:
    """Inline reasons; the projector's tables filled for existing decisions; the cursor at the newest."""
    dialect = op.get_bind().dialect.name
    op.add_column("decisions", sa.Column("reasons", sa.JSON(), server_default="[]", nullable=False))
    op.execute(_INLINE[dialect])
    op.create_table(
        "decision_rules",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("decision_pk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "decision_pk", "position", name=op.f("pk_decision_rules")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "decision_campaigns",
        sa.Column("campaign_id", sa.String(length=200), nullable=False),
        sa.Column("decision_pk", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "decision_pk", name=op.f("pk_decision_campaigns")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "decision_minutes",
        sa.Column("minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_pk", sa.BigInteger(), nullable=False),
        sa.Column("last_pk", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_decision_minutes")),
    )
    op.create_table(
        "projections",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("upto", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projections")),
    )
    op.execute("INSERT INTO decision_rules (rule_id, decision_pk, position) "
               "SELECT DISTINCT rule_id, decision_pk, position FROM decision_reasons")
    op.execute("INSERT INTO decision_campaigns (campaign_id, decision_pk) "
               "SELECT campaign_id, id FROM decisions WHERE campaign_id IS NOT NULL")
    op.execute(f"INSERT INTO decision_minutes (minute, first_pk, last_pk) SELECT {_MINUTE[dialect]} AS m, "
               f"min(id), max(id) FROM decisions GROUP BY {_MINUTE[dialect]}")
    op.execute("INSERT INTO projections (name, upto, as_of) SELECT 'decisions', COALESCE(max(id), 0), "
               "(SELECT evaluated_at FROM decisions ORDER BY id DESC LIMIT 1) FROM decisions")
    op.drop_table("decision_reasons")
    op.drop_index("ix_decisions_campaign", table_name="decisions")
    op.drop_index("ix_decisions_evaluated", table_name="decisions")


def downgrade() -> None:
    """Reason rows from the inline reasons, the two indexes on decisions back; the projector's tables gone."""
    op.create_index("ix_decisions_campaign", "decisions", ["campaign_id"])
    op.create_index("ix_decisions_evaluated", "decisions", ["evaluated_at"])
    op.create_table(
        "decision_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_pk", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["decision_pk"], ["decisions.id"], ondelete="CASCADE",
                                name=op.f("fk_decision_reasons_decision_pk_decisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_reasons")),
    )
    op.create_index("ix_decision_reasons_rule", "decision_reasons", ["rule_id", "decision_pk"])
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, CAST(reasons AS TEXT) FROM decisions WHERE CAST(reasons AS TEXT) <> '[]'"))
    reasons = [{"pk": pk, "position": i, "rule_id": r["rule_id"], "outcome": r["outcome"],
                "explanation": r["explanation"]}
               for pk, inline in rows for i, r in enumerate(json.loads(inline))]
    if reasons:
        bind.execute(sa.text("INSERT INTO decision_reasons (decision_pk, position, rule_id, outcome, explanation) "
                             "VALUES (:pk, :position, :rule_id, :outcome, :explanation)"), reasons)
    for table in ("projections", "decision_minutes", "decision_campaigns", "decision_rules"):
        op.drop_table(table)
    # Not a batch rebuild: on SQLite, dropping the old table would cascade into decision_reasons.
    op.execute("ALTER TABLE decisions DROP COLUMN reasons")
