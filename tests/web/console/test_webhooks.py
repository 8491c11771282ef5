"""The console's Webhooks page: admins subscribe receivers, see deliveries and redeliver; readers cannot."""

from __future__ import annotations

from guard.app import Guard
from guard.outbound.delivery import Policy
from guard.outbound.outbox import enqueue
from guard.outbound.worker import Deliverer
from tests.outbound.receiver import Receiver
from tests.web.console.conftest import Browser

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_generated_secret_is_shown_once_and_a_subscription_removed(admin: Browser):
    page = admin.get("/console/webhooks")
    assert page.status_code == 200 and "No subscriptions yet" in page.get_data(as_text=True)
    added = admin.post("/console/webhooks", {"url": "https://care.example.com/hooks",
                                             "events": "care.requested hold.released"})
    text = added.get_data(as_text=True)
    assert added.status_code == 201 and "whsec_" in text and "care.requested hold.released" in text
    secret = text.split("whsec_", 1)[1].split("<", 1)[0]
    again = admin.get("/console/webhooks").get_data(as_text=True)
    assert "https://care.example.com/hooks" in again and secret not in again and "console:alice" in again
    assert admin.post("/console/webhooks/1/remove").status_code == 302
    assert "No subscriptions yet" in admin.get("/console/webhooks").get_data(as_text=True)


def test_bad_fields_are_shown_and_nothing_is_added(admin: Browser):
    admin.get("/console/webhooks")
    answer = admin.post("/console/webhooks", {"url": "ftp://care.example.com/", "events": "care.requested",
                                              "secret": "plain"})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "Only http:// and https://" in text and "whsec_ secret" in text
    assert "plain" not in text.split('id="add-subscription"', 1)[1]  # the secret is not echoed back
    assert "No subscriptions yet" in admin.get("/console/webhooks").get_data(as_text=True)


def test_a_failed_delivery_is_listed_with_its_error_and_redelivered(admin: Browser, console_guard: Guard):
    receiver = Receiver(answer=lambda n: 500 if n == 1 else 200).start()
    try:
        admin.get("/console/webhooks")
        assert admin.post("/console/webhooks", {"url": receiver.url, "events": "care.requested",
                                                "secret": SECRET}).status_code == 302
        with console_guard.db.raw_transaction() as sql:
            enqueue(sql, "care.requested", {"customer_id": "c1"})
        key = console_guard.settings.audit_key
        Deliverer(console_guard.db, key, Policy(timeout=2, backoff=60, retry_for=1)).round()
        failed = admin.get("/console/webhooks?status=failed").get_data(as_text=True)
        assert "care.requested" in failed and "HTTP 500" in failed and ">failed<" in failed
        assert admin.post("/console/webhooks/deliveries/1/redeliver").status_code == 302
        Deliverer(console_guard.db, key, Policy(timeout=2)).round()
        delivered = admin.get("/console/webhooks?status=delivered").get_data(as_text=True)
        assert ">delivered<" in delivered and ">2<" in delivered
        assert [r.signed_by(SECRET) for r in receiver.received] == [True, True]
    finally:
        receiver.stop()


def test_readers_see_no_webhooks(reader: Browser):
    assert reader.get("/console/webhooks").status_code == 403
    assert "/console/webhooks" not in reader.get("/console/decisions").get_data(as_text=True)
