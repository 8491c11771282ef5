"""Erasure through the API's eyes: a customer who withdrew consent and was erased is still refused marketing
when their id comes back, and none of their personal data is left in the database (outbound messages and their
deliveries included)."""

from __future__ import annotations

import json

from sqlalchemy import text

from guard.audit.retention import ERASED_TEXT, erase_customer
from guard.audit.scrub import REQUEST_KEPT
from guard.audit.verify import verify
from guard.core.vocabulary import HOLD_EVENTS
from guard.decisions import care
from guard.holds.worker import HoldWorker
from guard.ledger.digests import pseudonym
from guard.outbound.worker import Deliverer
from guard.situation.history import LOCK_TABLE
from guard.storage.database import Base
from tests.holds.conftest import Clock, at, outbox
from tests.outbound.conftest import FAST, rounds, subscribe
from tests.outbound.receiver import Receiver


def _ok(guard):
    with guard.db.sessions() as session:
        report = verify(session)
    assert report.ok, report.problems


def test_an_erased_customer_who_withdrew_consent_is_still_refused_when_their_id_comes_back(api, guard):
    customer, email, key = "cust-4711", "jo.4711@example.com", "welcome-cust-4711"
    api.events(
        {"event_id": "ev-a", "customer_id": customer, "type": "consent.withdrawn",
         "occurred_at": "2026-02-01T00:00:00Z", "data": {"channel": "email"}},
        {"event_id": "ev-b", "customer_id": customer, "type": "complaint.opened",
         "occurred_at": "2026-02-02T00:00:00Z", "data": {"case_id": f"case-of-{customer}"}},
    )
    message = {"customer_id": customer, "channel": "email", "purpose": "marketing",
               "send_at": "2026-03-02T12:00:00Z"}
    first = api.decide(**message, idempotency_key=key, attributes={"email": email})
    api.decide(**{**message, "purpose": "survey"})  # an explanation naming the customer's case
    assert first["outcome"] == "block" and first["reasons"][0]["rule_id"] == "consent"

    erase_customer(guard.db, customer)
    _ok(guard)
    with guard.db.sessions() as session:
        for table in ("events", "decisions", "decision_rules", "decision_campaigns", "audit_records", "audit_erasures",
                      "suppressions", "backtest_jobs"):
            stored = json.dumps([list(map(str, row)) for row in session.execute(text(f"SELECT * FROM {table}"))])
            for secret in (customer, email, key):
                assert secret not in stored, (table, secret)
        suppressions = session.scalar(text("SELECT count(*) FROM suppressions"))
    assert suppressions == 1

    # The id comes back with new events, among them a stale re-import of an old "yes": still refused.
    api.events(
        {"event_id": "ev-c", "customer_id": customer, "type": "profile.updated",
         "occurred_at": "2026-03-01T00:00:00Z", "data": {"timezone": "Europe/Paris"}},
        {"event_id": "ev-d", "customer_id": customer, "type": "consent.given",
         "occurred_at": "2026-01-15T00:00:00Z", "data": {"channel": "email"}},
    )
    again = api.decide(**message)
    assert again["outcome"] == "block" and again["reasons"][0]["rule_id"] == "consent"
    shown = api.get(f"/v1/customers/{customer}?at=2026-03-02T12:00:00Z").get_json()
    assert {"channel": "email", "purpose": "marketing", "status": "withdrawn",
            "since": "2026-02-01T00:00:00Z"} in shown["consent"]
    assert api.decide(**{**message, "channel": "sms"})["outcome"] == "allow"  # only what they refused
    _ok(guard)

    # A later "yes" from the customer lifts it, as it would have before the erasure.
    api.events({"event_id": "ev-e", "customer_id": customer, "type": "consent.given",
                "occurred_at": "2026-03-02T00:00:00Z", "data": {"channel": "email"}})
    assert api.decide(**message)["outcome"] == "allow"


def test_an_erasure_leaves_nothing_of_the_customer_in_the_outbound_messages_under_any_of_their_names(api, guard):
    """Care told twice (under the customer id and under an alias), three holds settled (released, ended,
    expired), every message fanned out to a subscription: some delivered before the erasure, some failing
    (their receiver quoting the body back). Erasing the alias, then the customer id, leaves none of the
    person in any table, and the deliveries still pending send the scrubbed bodies."""
    customer, email, name = "cust-9001", "jo.9001@example.com", "Josephine-9001"
    alias = f"email:{email}"
    attributes = {"first_name": name, "email": email}
    keys = [f"idem-9001-{n}" for n in range(5)]
    assert api.post(f"/v1/customers/{customer}/aliases", json={"aliases": [alias]}).status_code == 201
    receiver = Receiver().start()
    try:
        subscribe(guard.db, receiver.url, care.EVENT, *HOLD_EVENTS)
        deliverer = Deliverer(guard.db, guard.settings.audit_key, FAST)
        api.events({"event_id": "ev-k1", "customer_id": customer, "type": "complaint.opened",
                    "occurred_at": at(-3), "data": {"case_id": "K-9001-a"}})
        marketing = {"channel": "email", "purpose": "marketing", "campaign_id": "spring", "attributes": attributes}
        assert api.decide(customer_id=customer, idempotency_key=keys[0], **marketing)["outcome"] == "reroute"
        # A complaint through the helpdesk, by e-mail: the alias's decision tells care about it (a claim under the
        # customer id, made by the alias's decision; its message names the alias).
        api.events({"event_id": "ev-k2", "customer_id": alias, "type": "complaint.opened",
                    "occurred_at": at(-2), "data": {"case_id": "K-9001-b"}})
        assert api.decide(customer_id=alias, idempotency_key=keys[1], **marketing)["outcome"] == "reroute"
        rounds(deliverer, stop=lambda: len(receiver.delivered()) >= 2)  # care was told: out of Guard's reach

        survey = {"customer_id": customer, "purpose": "survey", "attributes": attributes}
        released = api.decide(channel="email", hold=True, idempotency_key=keys[2], **survey)
        expiring = api.decide(channel="email", hold={"expires_at": at(1.5)}, idempotency_key=keys[3], **survey)
        ending = api.decide(channel="sms", hold=True, idempotency_key=keys[4], **survey)
        waited = released["hold"]["waiting_for"]["case_id"]
        assert {expiring["outcome"], ending["outcome"]} == {"hold"}
        assert ending["hold"]["waiting_for"]["case_id"] == waited
        opened_by = {"K-9001-a": customer, "K-9001-b": alias}
        [other] = set(opened_by) - {waited}
        api.events({"event_id": "ev-w", "customer_id": opened_by[waited], "type": "complaint.resolved",
                    "occurred_at": at(-1), "data": {"case_id": waited}},
                   {"event_id": "ev-o", "customer_id": opened_by[other], "type": "complaint.resolved",
                    "occurred_at": at(0), "data": {"case_id": other}},
                   {"event_id": "ev-c", "customer_id": customer, "type": "consent.withdrawn",
                    "occurred_at": at(0), "data": {"channel": "sms", "purpose": "survey"}})
        clock = Clock()
        holds = HoldWorker(guard.db, lambda: guard.evaluator, now=clock)
        clock.later(days=1.6)
        assert holds.turn() == 1
        clock.later(days=2, hours=1)
        assert holds.turn() == 2
        sent = {message["type"]: message["data"] for message in outbox(guard.db)}
        assert set(sent) == {care.EVENT, *HOLD_EVENTS}
        # Released deferred (the other complaint was resolved two days before): its explanation names that case.
        assert any(other in reason["explanation"] for reason in sent["hold.released"]["decision"]["reasons"])
        receiver.answer, receiver.echo = (lambda n: 500), True
        rounds(deliverer, stop=lambda: len({r.headers["webhook-id"] for r in receiver.received
                                            if r.answered == 500}) >= 3)
        before = _messages(guard)
        explanations = sorted({text for data in before.values() for text in _explanations(data)})
        assert len(explanations) >= 3 and all(isinstance(text, str) and text for text in explanations)

        result = erase_customer(guard.db, alias)
        assert (result["care_notifications_deleted"], result["outbox_messages_scrubbed"]) == (1, 1)
        with guard.db.raw_reads() as sql:
            assert sql.rows("SELECT customer_id FROM care_notifications") == [(customer,)]
        result = erase_customer(guard.db, customer)
        assert (result["care_notifications_deleted"], result["outbox_messages_scrubbed"]) == (1, 4)
        _ok(guard)

        secrets = [customer, alias, email, name, *keys, "K-9001-a", "K-9001-b", *explanations]
        with guard.db.sessions() as session:
            for table in Base.metadata.sorted_tables:
                if table.name == LOCK_TABLE:
                    continue
                stored = json.dumps([list(map(str, row)) for row in session.execute(table.select())])
                for secret in secrets:
                    assert secret not in stored, (table.name, secret)
            pending = session.scalar(text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' "
                                          "AND last_error = :erased"), {"erased": ERASED_TEXT})
        assert pending == 3
        after = _messages(guard)
        for message_id, data in before.items():  # every field declared: the shape stays, the person goes
            assert _paths(after[message_id]) == _paths(data), message_id  # (the request is reduced, below)
            assert after[message_id]["customer_id"] in (pseudonym(customer), pseudonym(alias))
            assert _explanations(after[message_id]) == [ERASED_TEXT] * len(_explanations(data))
            if "request" in data:  # the held request: the message, as an erased decision keeps it
                kept = {k: v for k, v in data["request"].items() if k in REQUEST_KEPT}
                assert after[message_id]["request"] == {**kept, "customer_id": pseudonym(customer)}

        # The deliveries still pending send what the outbox holds now.
        receiver.received.clear()
        receiver.answer, receiver.echo = (lambda n: 200), False
        rounds(deliverer, stop=lambda: len(receiver.delivered()) >= 3)
        resent = b" ".join(r.body for r in receiver.delivered()).decode()
        assert len(receiver.delivered()) == 3 and "hold." in resent
        for secret in secrets:
            assert secret not in resent, secret
    finally:
        receiver.stop()


def _messages(guard) -> dict[str, dict]:
    """Every outbox message's data by its `webhook-id`."""
    with guard.db.raw_reads() as sql:
        return {message_id: json.loads(body)["data"]
                for message_id, body in sql.rows("SELECT message_id, body FROM outbox")}


def _explanations(value) -> list:
    """Every explanation anywhere in a message's data."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "explanation"] + [
            e for k, v in value.items() if k != "explanation" for e in _explanations(v)]
    if isinstance(value, list):
        return [e for item in value for e in _explanations(item)]
    return []


def _paths(value, prefix: str = "") -> set[str]:
    """The field paths of a message's data (list items share their list's path), but inside a held request."""
    if prefix == "request.":
        return set()
    if isinstance(value, dict):
        return {prefix + k for k in value} | {p for k, v in value.items() for p in _paths(v, f"{prefix}{k}.")}
    if isinstance(value, list):
        return {p for item in value for p in _paths(item, prefix)}
    return set()
