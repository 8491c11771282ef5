"""`guard webhooks`: subscribe, list, remove, follow deliveries and redeliver, from the command line."""

from __future__ import annotations

from guard.core.config import DEV_AUDIT_KEY
from guard.outbound.delivery import Policy
from guard.outbound.outbox import enqueue
from guard.outbound.signing import secret_bytes
from guard.outbound.worker import Deliverer
from guard.storage.database import Database
from tests.cli.conftest import Invoke
from tests.outbound.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _deliver_once(url: str, policy: Policy) -> None:
    """What a running `guard serve` does: one round of deliveries."""
    db = Database(url)
    try:
        with db.raw_transaction() as sql:
            enqueue(sql, "care.requested", {"customer_id": "c1"})
        Deliverer(db, DEV_AUDIT_KEY, policy).round()
    finally:
        db.dispose()


def test_add_prints_the_id_and_a_generated_secret_once(invoke: Invoke):
    added = invoke("webhooks", "add", "https://care.example.com/hooks", "--event", "care.requested",
                   "--event", "hold.released")
    assert added.exit_code == 0, added.output
    lines = dict(line.split(": ", 1) for line in added.stdout.strip().splitlines())
    assert lines["id"] == "1" and len(secret_bytes(lines["secret"])) == 32
    listed = invoke("webhooks", "list")
    assert listed.exit_code == 0
    assert "https://care.example.com/hooks" in listed.output and "care.requested hold.released" in listed.output
    assert lines["secret"] not in listed.output


def test_a_given_secret_is_not_printed_and_a_bad_one_refused(invoke: Invoke):
    given = invoke("webhooks", "add", "https://care.example.com/hooks", "--event", "care.requested",
                   "--secret", SECRET)
    assert given.exit_code == 0 and given.stdout.strip() == "id: 1" and SECRET not in given.output
    bad = invoke("webhooks", "add", "ftp://care.example.com/", "--event", "care.requested", "--secret", "plain")
    assert bad.exit_code == 1
    assert "url" in bad.output and "secret" in bad.output
    assert invoke("webhooks", "add", "https://x.example.com/").exit_code == 2  # --event is required
    misspelt = invoke("webhooks", "add", "https://care.example.com/", "--event", "hold.release")
    assert misspelt.exit_code == 1 and "Did you mean hold.released?" in misspelt.output


def test_remove_then_nothing_listed(invoke: Invoke):
    invoke("webhooks", "add", "https://care.example.com/hooks", "--event", "care.requested")
    removed = invoke("webhooks", "remove", "1")
    assert removed.exit_code == 0 and "Removed subscription 1" in removed.output
    assert invoke("webhooks", "remove", "1").exit_code == 1
    assert "No subscriptions yet" in invoke("webhooks", "list").output


def test_failed_deliveries_are_listed_and_redelivered(invoke: Invoke, cli_db_url: str):
    receiver = Receiver(answer=lambda n: 500 if n == 1 else 200).start()
    try:
        invoke("webhooks", "add", receiver.url, "--event", "care.requested", "--secret", SECRET)
        _deliver_once(cli_db_url, Policy(timeout=2, backoff=60, retry_for=1))
        failed = invoke("webhooks", "deliveries", "--failed")
        assert failed.exit_code == 0 and "failed" in failed.output and "HTTP 500" in failed.output
        again = invoke("webhooks", "redeliver", "1")
        assert again.exit_code == 0 and "will be sent again" in again.output
        assert "No deliveries failed" in invoke("webhooks", "deliveries", "--failed").output
        db = Database(cli_db_url)
        try:
            Deliverer(db, DEV_AUDIT_KEY, Policy(timeout=2)).round()
        finally:
            db.dispose()
        listed = invoke("webhooks", "deliveries").output
        assert "delivered" in listed and "200" in listed
        assert invoke("webhooks", "redeliver", "99").exit_code == 1
    finally:
        receiver.stop()


def test_with_public_targets_only_a_loopback_receiver_is_refused(invoke: Invoke):
    refused = invoke("webhooks", "add", "http://127.0.0.1:9000/hooks", "--event", "care.requested",
                     env={"GUARD_WEBHOOK_TARGETS": "public"})
    assert refused.exit_code == 1 and "127.0.0.1, not a public address" in refused.output
    assert invoke("webhooks", "add", "http://127.0.0.1:9000/hooks", "--event", "care.requested").exit_code == 0
