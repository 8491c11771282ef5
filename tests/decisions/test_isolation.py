"""One bad request never fails another: values that could reach the engine are bounded by the schema (422),
and what the engine still refuses is that item's own error while the rest of its group, batch or stream
chunk is decided and committed as if it were not there."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import yaml

from guard.core.errors import ValidationFailed
from guard.decisions.service import _decide_coalesced, _validated, decide, decide_batch
from guard.policy.ast import RuleSource
from guard.policy.compiler import compile_ruleset
from guard.policy.evaluate import Evaluator
from guard.policy.parser import parse_sources
from tests.decisions.conftest import api_client, decision_count

SEND_AT = "2026-03-10T12:00:00Z"
GOOD = {"channel": "email", "purpose": "marketing", "send_at": SEND_AT}
HUGE = 10**400  # a 401-digit integer: the engine's encoder cannot take it
# As many attributes as the schema allows: with HISTORY_RULES frequency conditions the engine's fact holds
# more properties than it can, and it refuses the fact (error 302) while requests without them pass.
WIDE = {f"a{i}": i for i in range(50)}
HISTORY_RULES = 200


@pytest.fixture
def api(guard):
    return api_client(guard)


@pytest.fixture(scope="module")
def narrow_engine():
    """A real rule set whose facts the engine cannot hold once a request brings the 50 attributes it tests.

    Built from the compiled rules directly, past validation (which now refuses such a set): what the engine
    does with a fact it cannot hold is the point here.
    """
    rules = [{"id": f"seen-{i}", "description": "d", "outcome": "block", "explanation": "x",
              "when": [{"message.purpose": "marketing"}, {"decisions": {"within": f"{i + 1}d", "count": {"gte": 1}}}]}
             for i in range(HISTORY_RULES)]
    # A rule that tests every attribute: only attributes some rule tests enter the engine's fact.
    rules.append({"id": "wide", "description": "d", "outcome": "block", "explanation": "x",
                  "when": [{"message.purpose": "survey"}, *({f"attributes.{name}": {"gte": 0}} for name in WIDE)]})
    ruleset, problems = parse_sources([RuleSource("narrow.yaml", yaml.safe_dump({"rules": rules}))])
    assert not [p for p in problems if p.severity == "error"]
    evaluator = Evaluator(compile_ruleset(ruleset))
    yield evaluator
    evaluator.close()


@pytest.mark.parametrize("value", [HUGE, -HUGE, 2**63, -(2**63) - 1, 1e300, -1.5e19])
def test_numbers_beyond_what_the_engine_holds_exactly_are_422(api, guard, value):
    response = api.post("/v1/decisions", json={**GOOD, "customer_id": "c", "attributes": {"score": value}})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and "score" in error["details"]["attributes"]
    assert decision_count(guard.db) == 0


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 0.1, -9.2e18, True])
def test_numbers_within_the_bounds_are_decided(api, value):
    response = api.post("/v1/decisions", json={**GOOD, "customer_id": "c", "attributes": {"score": value}})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("field, value", [
    ("customer_id", "a\x00b"), ("campaign_id", "spring\x00"), ("product_ids", ["p\ud800"]),
    ("idempotency_key", "k\udfff"), ("attributes", {"tier": "gold\x00"}),
])
def test_text_no_database_can_store_is_refused_by_the_schema_itself(guard, field, value):
    # Requests built in code (a CSV campaign) never pass the JSON parser: the schema refuses them too.
    [result] = decide_batch(guard.db, guard.evaluator, [{**GOOD, "customer_id": "c", field: value}])
    assert result["error"]["code"] == "validation_failed" and field in result["error"]["details"]
    assert decision_count(guard.db) == 0


def test_a_batch_with_a_poison_item_answers_200_with_its_error_and_decides_the_rest(api, guard):
    requests = [{**GOOD, "customer_id": f"c{i}"} for i in range(5)]
    requests.insert(2, {**GOOD, "customer_id": "poison", "attributes": {"n": HUGE}})
    response = api.post("/v1/decisions/batch", json={"requests": requests})
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert results[2]["error"]["code"] == "validation_failed"
    assert [r["outcome"] for i, r in enumerate(results) if i != 2] == ["allow"] * 5
    assert response.get_json()["summary"]["errors"] == 1
    assert decision_count(guard.db) == 5


def test_what_the_engine_refuses_is_the_items_own_422_in_a_batch(guard, narrow_engine):
    requests = [{**GOOD, "customer_id": f"c{i}"} for i in range(4)]
    requests.insert(1, {**GOOD, "customer_id": "wide", "attributes": WIDE})
    results = decide_batch(guard.db, narrow_engine, requests)
    assert results[1]["error"]["code"] == "validation_failed"
    assert "engine" in results[1]["error"]["message"]
    assert [r.get("outcome") for i, r in enumerate(results) if i != 1] == ["allow"] * 4
    assert decision_count(guard.db) == 4


def test_what_the_engine_refuses_is_a_422_for_a_single_decision_and_a_dry_run(guard, narrow_engine):
    for dry_run in (False, True):
        with pytest.raises(ValidationFailed):
            decide(guard.db, narrow_engine, {**GOOD, "customer_id": "wide", "attributes": WIDE, "dry_run": dry_run})
    assert decision_count(guard.db) == 0


def test_a_commit_group_with_a_poison_item_commits_the_others(guard, narrow_engine):
    # Exactly what group commit runs for the requests that queued together on one worker.
    now = datetime.now(UTC)
    items = [_validated(i, {**GOOD, "customer_id": f"c{i}"}, now, "tool", None) for i in range(3)]
    items.insert(1, _validated(9, {**GOOD, "customer_id": "wide", "attributes": WIDE}, now, "tool", None))
    _decide_coalesced(guard.db, [(narrow_engine, item) for item in items])
    assert isinstance(items[1].error, ValidationFailed) and items[1].result is None
    assert [i.result["outcome"] for i in items if i is not items[1]] == ["allow"] * 3
    assert decision_count(guard.db) == 3


def test_concurrent_single_decisions_beside_a_poison_loop_all_succeed(committed_db, narrow_engine):
    """Threads of one process share the group commit: the poison requests fail alone, every good one is
    decided and committed."""
    good_answers: list[str] = []
    good_failures: list[BaseException] = []
    poison_answers: list[str] = []
    stop = threading.Event()

    def good(worker: int) -> None:
        for n in range(25):
            try:
                good_answers.append(decide(committed_db, narrow_engine, {**GOOD, "customer_id": f"g{worker}-{n}"})
                                    ["decision_id"])
            except BaseException as exc:  # collected and asserted below
                good_failures.append(exc)

    def poison() -> None:
        while not stop.is_set():
            try:
                decide(committed_db, narrow_engine, {**GOOD, "customer_id": "wide", "attributes": WIDE})
            except ValidationFailed as exc:
                poison_answers.append(exc.code)

    poisoner = threading.Thread(target=poison)
    poisoner.start()
    workers = [threading.Thread(target=good, args=(w,)) for w in range(6)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    stop.set()
    poisoner.join(timeout=30)
    assert good_failures == []
    assert len(set(good_answers)) == 150 and decision_count(committed_db) == 150
    assert poison_answers and set(poison_answers) == {"validation_failed"}


POISON_ROW_SQLITE = """CREATE TRIGGER refuse_poison BEFORE INSERT ON decisions
WHEN NEW.customer_id = 'poison-row' BEGIN SELECT RAISE(ABORT, 'refused'); END"""
POISON_ROW_POSTGRES = ["""CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.customer_id = 'poison-row' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$""",
                       """CREATE TRIGGER refuse_poison BEFORE INSERT ON decisions
FOR EACH ROW EXECUTE FUNCTION refuse_poison()"""]


@pytest.fixture
def poison_row_db(committed_db):
    """A committing database that refuses to store one customer's decision row: a failure of the group's
    write that only one item sets off (a real database error, whatever its cause)."""
    with committed_db.engine.begin() as conn:
        for statement in POISON_ROW_POSTGRES if conn.dialect.name == "postgresql" else [POISON_ROW_SQLITE]:
            conn.exec_driver_sql(statement)
    return committed_db


def test_a_group_whose_write_one_item_breaks_commits_the_others_alone(poison_row_db, starter_evaluator, caplog):
    now = datetime.now(UTC)
    items = [_validated(i, {**GOOD, "customer_id": f"c{i}"}, now, "tool", None) for i in range(3)]
    items.insert(2, _validated(9, {**GOOD, "customer_id": "poison-row"}, now, "tool", None))
    _decide_coalesced(poison_row_db, [(starter_evaluator, item) for item in items])
    assert items[2].failure is not None and items[2].result is None
    assert [i.result["outcome"] for i in items if i is not items[2]] == ["allow"] * 3
    assert decision_count(poison_row_db) == 3
    assert "deciding request 9 failed" in caplog.text


def test_a_batch_item_that_breaks_the_write_is_an_internal_error_of_its_own(poison_row_db, starter_evaluator):
    requests = [{**GOOD, "customer_id": c} for c in ("a", "poison-row", "b")]
    results = decide_batch(poison_row_db, starter_evaluator, requests)
    assert results[1]["error"] == {"code": "internal_error", "details": {},
                                   "message": "Guard failed to answer this request; it has been logged."}
    assert results[0]["outcome"] == results[2]["outcome"] == "allow"
    assert decision_count(poison_row_db) == 2
    with pytest.raises(Exception, match="refused"):
        decide(poison_row_db, starter_evaluator, {**GOOD, "customer_id": "poison-row"})
    assert decision_count(poison_row_db) == 2


def test_a_repeat_in_the_same_group_of_a_refused_request_gets_the_same_error(guard, narrow_engine):
    now = datetime.now(UTC)
    wide = {**GOOD, "customer_id": "wide", "attributes": WIDE, "idempotency_key": "k-wide"}
    items = [_validated(i, dict(wide), now, "tool", None) for i in range(2)]
    items.append(_validated(2, {**GOOD, "customer_id": "c"}, now, "tool", None))
    _decide_coalesced(guard.db, [(narrow_engine, item) for item in items])
    assert [type(i.error) for i in items[:2]] == [ValidationFailed, ValidationFailed]
    assert items[2].result["outcome"] == "allow" and decision_count(guard.db) == 1
