"""A decision's reasons are found through an index, not by reading the whole table (the decision path reads
earlier decisions' reasons; a whole-table read there grows with the log: issue 16's two-instance run)."""

from __future__ import annotations

from sqlalchemy import Engine


def test_reasons_of_some_decisions_are_read_through_the_decision_index(engine: Engine):
    condition = "decision_pk = ANY(ARRAY[3, 5, 8])" if engine.dialect.name == "postgresql" else \
        "decision_pk IN (3, 5, 8)"
    statement = (f"SELECT decision_pk, rule_id, outcome, explanation FROM decision_reasons WHERE {condition} "
                 "ORDER BY decision_pk, position")  # as guard.situation.history.reasons_of reads them
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # An empty table is cheapest to read whole: forbid that, so only an existing index is chosen.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}"))
        else:
            plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}"))
    assert "ix_decision_reasons_decision" in plan, plan
