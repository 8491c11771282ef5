"""The reviewers' index behind the writer: caps and idempotency never wait for it, reviewers' reads catch up
with it, its lag is visible, and two projectors never double a row (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from guard.app import Guard
from guard.audit.retention import ERASED_TEXT, erase_customer
from guard.decisions.projector import Projector, catch_up, lag, project_once
from guard.situation.events import ingest_one
from guard.situation.history import history_of
from guard.storage.database import Database
from guard.storage.tables.decisions import Decision, DecisionFacet, DecisionReason
from tests.decisions.conftest import api_client

CATCH_UP_SECONDS = 1.0  # what issue 16 allows reviewers' reads to lag


def marketing(customer: str, send_at: str = "2026-03-02T12:00:00Z", **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer, "channel": "email", "purpose": "marketing", "send_at": send_at, **fields}


def message(**fields: Any) -> dict[str, Any]:
    """A batch's shared message (no customer)."""
    return {k: v for k, v in marketing("-", **fields).items() if k != "customer_id"}


def rows(db: Database) -> dict[str, int]:
    """How many decisions, facets and reason rows there are, and how many reasons the decisions hold inline."""
    with db.sessions() as session:
        inline = sum(len(d.matched) for d in session.scalars(select(Decision)))
        count = {m.__tablename__: int(session.scalar(select(func.count()).select_from(m)) or 0)
                 for m in (Decision, DecisionFacet, DecisionReason)}
        doubled = session.execute(select(DecisionReason.decision_pk, DecisionReason.position)
                                  .group_by(DecisionReason.decision_pk, DecisionReason.position)
                                  .having(func.count() > 1)).all()
    return {**count, "inline": inline, "doubled": len(doubled)}


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
    assert rows(guard.db)["decision_reasons"] == 0
    with guard.db.raw_reads() as sql:
        history = history_of(sql, ["cap-1"], datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC))
    assert [p.rule_ids for p in history["cap-1"]] == [(), (), (), ("frequency-cap",)]

    first = client.post("/v1/decisions", json=marketing("idem-1", idempotency_key="k-1", purpose="survey"))
    again = client.post("/v1/decisions", json=marketing("idem-1", idempotency_key="k-1", purpose="survey"))
    assert again.status_code == 200 and again.get_json() == first.get_json()  # reasons and all, unprojected
    conflict = client.post("/v1/decisions", json=marketing("idem-1", idempotency_key="k-1"))
    assert conflict.status_code == 409
    # A decision is readable by its id at once: the id is indexed by the writer.
    assert client.get(f"/v1/decisions/{first.get_json()['decision_id']}").status_code == 200


def test_reviewers_reads_are_as_of_the_projection(guard: Guard):
    client = api_client(guard)
    decided = [client.post("/v1/decisions", json=marketing(f"r-{i}", campaign_id="spring")).get_json()
               for i in range(5)]
    assert listed(client, campaign_id="spring") == []
    behind = lag(guard.db)
    assert behind.behind == 5 and behind.seconds >= 0 and behind.as_of is None

    assert catch_up(guard.db) == 5
    assert listed(client, campaign_id="spring") == [d["decision_id"] for d in reversed(decided)]
    now = lag(guard.db)
    assert (now.behind, now.seconds) == (0, 0.0)
    assert now.as_of is not None and abs(now.as_of - datetime.now(UTC)) < timedelta(minutes=1)
    counted = rows(guard.db)
    assert counted["decision_facets"] == 5 and counted["decision_reasons"] == counted["inline"]
    assert project_once(guard.db) == 0  # nothing new: nothing written


def test_a_projector_thread_catches_up_within_a_second_after_a_burst(guard: Guard):
    client = api_client(guard)
    projector = Projector(guard.db).start()
    try:
        body = {"message": message(campaign_id="burst"), "customer_ids": [f"b-{i}" for i in range(300)]}
        response = client.post("/v1/decisions/batch", json=body)
        assert response.status_code == 200
        singles = [client.post("/v1/decisions", json=marketing(f"s-{i}", campaign_id="burst")) for i in range(20)]
        assert all(r.status_code == 200 for r in singles)
        burst_over = time.monotonic()
        while len(listed(client, campaign_id="burst")) < 320 and time.monotonic() - burst_over < CATCH_UP_SECONDS:
            time.sleep(0.02)
        assert len(listed(client, campaign_id="burst")) == 320, lag(guard.db)
    finally:
        projector.stop()
    counted = rows(guard.db)
    assert counted["decision_facets"] == counted["decisions"] == 320
    assert counted["decision_reasons"] == counted["inline"] and counted["doubled"] == 0


def test_two_projectors_at_once_never_double_a_row(guard: Guard, db_url: str):
    client = api_client(guard)
    body = {"message": message(purpose="survey"), "customer_ids": [f"t-{i}" for i in range(2000)]}
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
    assert counted["decision_facets"] == counted["decisions"] == 2000
    assert counted["decision_reasons"] == counted["inline"] and counted["doubled"] == 0


def test_an_erasure_scrubs_projected_and_unprojected_explanations(guard: Guard):
    client = api_client(guard)
    events = {"event_id": "e-1", "customer_id": "gone", "type": "complaint.opened",
              "occurred_at": "2026-03-01T09:00:00Z", "data": {"case_id": "CASE-1"}}
    ingest_one(guard.db, events)
    client.post("/v1/decisions", json=marketing("gone"))
    catch_up(guard.db)  # the first decision's reasons are projected
    client.post("/v1/decisions", json=marketing("gone", send_at="2026-03-02T13:00:00Z"))  # this one is not
    erase_customer(guard.db, "gone")
    catch_up(guard.db)
    with guard.db.sessions() as session:
        explanations = list(session.scalars(select(DecisionReason.explanation)))
        inline = [r.explanation for d in session.scalars(select(Decision)) for r in d.reasons]
    assert len(explanations) == 2 and set(explanations) == set(inline) == {ERASED_TEXT}
