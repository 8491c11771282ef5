"""The reviewers' index behind the writer: caps and idempotency never wait for it, reviewers' reads catch up
with it, its lag is visible, two projectors never double a row, retention and erasure keep it right (SQLite and
PostgreSQL alike)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from guard.app import Guard
from guard.audit.retention import ERASED_TEXT, erase_customer, purge
from guard.audit.verify import verify
from guard.core.config import Settings
from guard.decisions.projector import Projector, catch_up, lag, project_once
from guard.situation.events import ingest_one
from guard.situation.history import history_of
from guard.storage.database import Database
from guard.storage.tables.decisions import Decision, DecisionCampaign, DecisionMinute, DecisionRule
from tests.decisions.conftest import api_client

CATCH_UP_SECONDS = 1.0  # what issue 16 allows reviewers' reads to lag


def marketing(customer: str, send_at: str = "2026-03-02T12:00:00Z", **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer, "channel": "email", "purpose": "marketing", "send_at": send_at, **fields}


def message(**fields: Any) -> dict[str, Any]:
    """A batch's shared message (no customer)."""
    return {k: v for k, v in marketing("-", **fields).items() if k != "customer_id"}


def rows(db: Database) -> dict[str, int]:
    """Decisions, the projector's rows, the reasons the decisions hold inline, and rule rows written twice."""
    with db.sessions() as session:
        decisions = list(session.scalars(select(Decision)))
        count = {m.__tablename__: int(session.scalar(select(func.count()).select_from(m)) or 0)
                 for m in (Decision, DecisionRule, DecisionCampaign, DecisionMinute)}
        doubled = session.execute(select(DecisionRule.decision_pk, DecisionRule.position)
                                  .group_by(DecisionRule.decision_pk, DecisionRule.position)
                                  .having(func.count() > 1)).all()
    return {**count, "inline": sum(len(d.matched) for d in decisions),
            "with_campaign": sum(1 for d in decisions if d.campaign_id), "doubled": len(doubled)}


def listed(client: Any, **filters: str) -> list[str]:
    response = client.get("/v1/decisions", query_string={"limit": 500, **filters})
    assert response.status_code == 200, response.get_json()
    return [d["decision_id"] for d in response.get_json()["items"]]


def test_caps_and_idempotency_never_wait_for_the_projector(guard: Guard):
    client = api_client(guard)
    answers = [client.post("/v1/decisions", json=marketing("cap-1", f"2026-03-0{day}T12:00:00Z")).get_json()
               for day in (2, 3, 4, 5)]
    # Nothing was projected, yet the fourth marketing message of the week counted the three before it.
    assert [a["outcome"] for a in answers] == ["allow", "allow", "allow", "defer"]
    assert answers[3]["reasons"][0]["rule_id"] == "frequency-cap"
    assert rows(guard.db)["decision_rules"] == 0
    with guard.db.raw_reads() as sql:
        history = history_of(sql, ["cap-1"], datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC))
    assert [p.rule_ids for p in history["cap-1"]] == [(), (), (), ("frequency-cap",)]

    first = client.post("/v1/decisions", json=marketing("idem-1", idempotency_key="k-1", purpose="survey"))
    again = client.post("/v1/decisions", json=marketing("idem-1", idempotency_key="k-1", purpose="survey"))
    assert again.status_code == 200 and again.get_json() == first.get_json()  # reasons and all, unprojected
    assert client.post("/v1/decisions", json=marketing("idem-1", idempotency_key="k-1")).status_code == 409
    # A decision is readable by its id at once: the id is indexed by the writer.
    shown = client.get(f"/v1/decisions/{answers[3]['decision_id']}")
    assert shown.status_code == 200 and shown.get_json()["reasons"] == answers[3]["reasons"]


def test_reviewers_reads_are_as_of_the_projection(guard: Guard):
    client = api_client(guard)
    decided = [client.post("/v1/decisions", json=marketing(f"r-{i}", campaign_id="spring")).get_json()
               for i in range(5)]
    assert listed(client, campaign_id="spring") == [] and listed(client) == []
    behind = lag(guard.db)
    assert behind.behind == 5 and behind.seconds >= 0

    assert catch_up(guard.db) == 5
    newest_first = [d["decision_id"] for d in reversed(decided)]
    assert listed(client, campaign_id="spring") == newest_first == listed(client)
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert listed(client, campaign_id="spring", since=since) == newest_first
    assert listed(client, until=since) == [] and listed(client, campaign_id="autumn") == []
    now = lag(guard.db)
    assert (now.behind, now.seconds) == (0, 0.0)
    counted = rows(guard.db)
    assert counted["decision_campaigns"] == 5 and counted["decision_rules"] == counted["inline"]
    assert project_once(guard.db) == 0  # nothing new: nothing written


def test_filters_by_rule_and_time_read_the_projected_index(guard: Guard):
    client = api_client(guard)
    capped = [client.post("/v1/decisions", json=marketing("f-1", f"2026-03-0{day}T12:00:00Z")).get_json()
              for day in (2, 3, 4, 5)][-1]
    catch_up(guard.db)
    assert listed(client, rule_id="frequency-cap") == [capped["decision_id"]]
    assert listed(client, rule_id="frequency-cap", outcome="allow") == []
    later = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    assert listed(client, since=later) == []
    assert len(listed(client, until=later)) == 4


def test_a_projector_thread_catches_up_within_a_second_after_a_burst(guard: Guard):
    client = api_client(guard)
    projector = Projector(guard.db).start()
    try:
        body = {"message": message(campaign_id="burst"), "customer_ids": [f"b-{i}" for i in range(300)]}
        assert client.post("/v1/decisions/batch", json=body).status_code == 200
        singles = [client.post("/v1/decisions", json=marketing(f"s-{i}", campaign_id="burst")) for i in range(20)]
        assert all(r.status_code == 200 for r in singles)
        burst_over = time.monotonic()
        while len(listed(client, campaign_id="burst")) < 320 and time.monotonic() - burst_over < CATCH_UP_SECONDS:
            time.sleep(0.02)
        assert len(listed(client, campaign_id="burst")) == 320, lag(guard.db)
    finally:
        projector.stop()
    counted = rows(guard.db)
    assert counted["decision_campaigns"] == counted["decisions"] == 320
    assert counted["decision_rules"] == counted["inline"] and counted["doubled"] == 0


def test_two_projectors_at_once_never_double_a_row(guard: Guard, db_url: str):
    client = api_client(guard)
    body = {"message": message(purpose="survey", campaign_id="twice"), "customer_ids": [f"t-{i}" for i in range(2000)]}
    assert client.post("/v1/decisions/batch", json=body).status_code == 200
    other = Database(db_url)  # a second process's connections, as another worker would have
    try:
        done: list[int] = []

        def project(db: Database) -> None:
            for _ in range(50):
                done.append(project_once(db, limit=100))

        threads = [threading.Thread(target=project, args=(db,)) for db in (guard.db, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.dispose()
    catch_up(guard.db)
    counted = rows(guard.db)
    assert sum(done) + 0 <= 2000 and counted["decision_campaigns"] == counted["decisions"] == 2000
    assert counted["decision_rules"] == counted["inline"] and counted["doubled"] == 0


def test_an_erasure_scrubs_the_inline_explanations_and_the_index_keeps_rule_ids(guard: Guard):
    client = api_client(guard)
    ingest_one(guard.db, {"event_id": "e-1", "customer_id": "gone", "type": "complaint.opened",
                          "occurred_at": "2026-03-01T09:00:00Z", "data": {"case_id": "CASE-1"}})
    client.post("/v1/decisions", json=marketing("gone"))
    catch_up(guard.db)  # the first decision is projected
    client.post("/v1/decisions", json=marketing("gone", send_at="2026-03-02T13:00:00Z"))  # this one is not
    erase_customer(guard.db, "gone")
    catch_up(guard.db)
    with guard.db.sessions() as session:
        inline = [r for d in session.scalars(select(Decision)) for r in d.reasons]
        projected = list(session.scalars(select(DecisionRule.rule_id)))
    assert len(inline) == 2 and {r.explanation for r in inline} == {ERASED_TEXT}
    assert sorted(projected) == sorted(r.rule_id for r in inline)


def test_a_purge_removes_the_projected_rows_of_the_decisions_it_removes(guard: Guard):
    client = api_client(guard)
    body = {"message": message(campaign_id="old"), "customer_ids": [f"p-{i}" for i in range(50)]}
    assert client.post("/v1/decisions/batch", json=body).status_code == 200
    for day in (2, 3, 4, 5):  # the last one is capped: a rule row
        client.post("/v1/decisions", json=marketing("p-capped", f"2026-03-0{day}T12:00:00Z", campaign_id="old"))
    catch_up(guard.db)
    assert rows(guard.db)["decision_rules"] == 1
    report = purge(guard.db, datetime.now(UTC) + timedelta(days=1))
    assert report["decisions"] == 54, report
    counted = rows(guard.db)
    assert (counted["decisions"], counted["decision_campaigns"], counted["decision_rules"]) == (0, 0, 0)
    with guard.db.sessions() as session:
        assert verify(session).problems == []
    fresh = client.post("/v1/decisions", json=marketing("p-new", campaign_id="old")).get_json()
    catch_up(guard.db)
    assert listed(client, campaign_id="old") == [fresh["decision_id"]]


def test_the_projector_poll_interval_comes_from_the_environment():
    assert Settings.from_env({}).projector_poll_interval == 0.1
    assert Settings.from_env({"GUARD_PROJECTOR_POLL_INTERVAL": "2.5"}).projector_poll_interval == 2.5
    with pytest.raises(SystemExit, match="GUARD_PROJECTOR_POLL_INTERVAL"):
        Settings.from_env({"GUARD_PROJECTOR_POLL_INTERVAL": "0"})
