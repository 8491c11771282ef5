"""Deciding many at once gives what deciding one by one gives, item errors stay local, every result is audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from guard.decisions.service import decide, decide_batch
from guard.situation.events import ingest_batch
from guard.storage.tables.decisions import Decision
from tests.conftest import event

SEND_AT = "2026-03-10T12:00:00Z"


@pytest.fixture
def history(guard):
    ingest_batch(guard.db, [
        event("angry", "complaint.opened", "2026-03-08T09:00:00Z", case_id="K-1"),
        event("buyer", "purchase.completed", "2026-03-05T09:00:00Z", order_id="O-1", product_ids=["P1"]),
        event("night", "profile.updated", "2026-01-01T00:00:00Z", timezone="Asia/Tokyo"),
        event("gone", "consent.withdrawn", "2026-02-01T00:00:00Z", channel="sms"),
    ])


def _requests():
    customers = ["angry", "buyer", "night", "gone", "nobody-1", "nobody-2"]
    out = []
    for purpose in ("marketing", "survey", "transactional"):
        for channel in ("email", "sms"):
            for customer in customers:
                out.append({"customer_id": customer, "channel": channel, "purpose": purpose, "send_at": SEND_AT,
                            "product_ids": ["P1"], "campaign_id": "spring"})
    return out


def _comparable(answer):
    return {k: answer[k] for k in ("outcome", "route", "defer_until", "reasons", "rules_version")}


def _count(guard):
    with guard.db.sessions() as session:
        return session.scalar(select(func.count()).select_from(Decision))


def test_batch_equals_single_decisions_in_input_order(guard, history):
    requests = _requests()
    batch = decide_batch(guard.db, guard.evaluator, requests)
    assert [r["index"] for r in batch] == list(range(len(requests)))
    outcomes = {r["outcome"] for r in batch}
    assert {"allow", "block", "reroute", "defer"} <= outcomes  # the fixture exercises every outcome
    # The same requests one by one (dry runs: the batch recorded fewer than three marketing sends each).
    for request, answer in zip(requests, batch, strict=True):
        single = decide(guard.db, guard.evaluator, {**request, "dry_run": True})
        assert _comparable(single) == _comparable(answer), request


def test_every_result_has_its_audit_record(guard, history):
    before = _count(guard)
    batch = decide_batch(guard.db, guard.evaluator, _requests())
    assert _count(guard) == before + len(batch)
    with guard.db.sessions() as session:
        ids = set(session.scalars(select(Decision.decision_id)))
    assert {r["decision_id"] for r in batch} <= ids
    assert len({r["decision_id"] for r in batch}) == len(batch)


def test_a_bad_item_gets_its_own_error_and_sinks_no_other(guard):
    good = {"customer_id": "c1", "channel": "email", "purpose": "marketing", "send_at": SEND_AT}
    results = decide_batch(guard.db, guard.evaluator, [good, {**good, "channel": "fax"}, "nonsense", good])
    assert [("error" in r) for r in results] == [False, True, True, False]
    assert results[1]["error"]["code"] == "validation_failed" and "channel" in results[1]["error"]["details"]
    assert _count(guard) == 2


def test_frequency_cap_counts_earlier_items_of_the_same_batch(guard):
    days = [f"2026-03-0{d}T12:00:00Z" for d in (1, 2, 3, 4)]
    requests = [{"customer_id": "busy", "channel": "email", "purpose": "marketing", "send_at": d} for d in days]
    outcomes = [r["outcome"] for r in decide_batch(guard.db, guard.evaluator, requests)]
    assert outcomes == ["allow", "allow", "allow", "defer"]


def test_idempotency_keys_inside_a_batch_and_across_calls(guard):
    body = {"customer_id": "c1", "channel": "email", "purpose": "marketing", "send_at": SEND_AT,
            "idempotency_key": "k-1"}
    first, repeat, clash = decide_batch(guard.db, guard.evaluator, [body, body, {**body, "channel": "sms"}])
    assert repeat["decision_id"] == first["decision_id"]
    assert clash["error"]["code"] == "idempotency_conflict"
    (again,) = decide_batch(guard.db, guard.evaluator, [body])
    assert again["decision_id"] == first["decision_id"]
    assert _count(guard) == 1


def test_concurrent_single_decisions_are_group_committed_as_if_in_sequence(committed_guard):
    """Threads deciding at once share transactions, yet the frequency cap counts every earlier decision."""
    import threading

    from guard.audit.verify import verify

    answers: list[dict] = []
    lock = threading.Lock()

    def send(customer: str) -> None:
        answer = decide(committed_guard.db, committed_guard.evaluator,
                        {"customer_id": customer, "channel": "email", "purpose": "marketing",
                         "send_at": "2026-03-12T10:00:00Z"}, "threads")
        with lock:
            answers.append({"customer": customer, **answer})

    threads = [threading.Thread(target=send, args=(f"busy-{n % 3}",)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 30 and len({a["decision_id"] for a in answers}) == 30
    for customer in ("busy-0", "busy-1", "busy-2"):
        outcomes = [a["outcome"] for a in answers if a["customer"] == customer]
        # Ten sends at one time: three are allowed, whatever order the threads ran in.
        assert outcomes.count("allow") == 3 and outcomes.count("defer") == 7
    with committed_guard.db.sessions() as session:
        stored = session.scalars(select(Decision).where(Decision.api_key_name == "threads")).all()
        assert len(stored) == 30
        assert verify(session).ok


def test_requests_alike_but_for_their_idempotency_keys_store_each_its_own_request(guard):
    import json

    base = {"channel": "email", "purpose": "marketing", "send_at": SEND_AT, "customer_id": "nobody-1"}
    raws = [{**base, "idempotency_key": "key-a"}, {**base, "idempotency_key": "key-b"},
            {**base, "customer_id": "nobody-2"}]
    decide_batch(guard.db, guard.evaluator, raws)
    with guard.db.sessions() as session:
        stored = {d.idempotency_key: d.request for d in session.scalars(select(Decision))}
    as_dict = {k: (json.loads(v) if isinstance(v, str) else v) for k, v in stored.items()}
    assert as_dict["key-a"]["idempotency_key"] == "key-a"
    assert as_dict["key-b"]["idempotency_key"] == "key-b"
    assert as_dict[None] == {"channel": "email", "purpose": "marketing", "send_at": SEND_AT,
                             "customer_id": "nobody-2"}
