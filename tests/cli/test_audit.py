"""`guard audit verify|purge|erase` and `guard customers erase` on a database of their own."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from guard.core.timeutil import utcnow
from guard.decisions.service import decide
from guard.holds.usecases import cancel_hold
from guard.outbound.delivery import Policy, fan_out
from guard.outbound.outbox import enqueue
from guard.situation.events import ingest_batch
from guard.storage.database import Database
from tests.conftest import event


def _key(invoke):
    result = invoke("keys", "create", "--name", "crm", "--scope", "events")
    assert result.exit_code == 0


def _import(invoke, tmp_path):
    lines = [json.dumps({"event_id": f"e{n}", "customer_id": "ann", "type": "page.viewed",
                         "occurred_at": f"2026-03-0{n}T00:00:00Z", "data": {}}) for n in (1, 2)]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert invoke("events", "import", str(path)).exit_code == 0


def test_verify_passes_on_an_untouched_log_and_names_an_altered_event(invoke, tmp_path, cli_db_url):
    _key(invoke)
    _import(invoke, tmp_path)
    result = invoke("audit", "verify")
    assert result.exit_code == 0 and result.output.startswith("OK: 3 records verified")
    engine = create_engine(cli_db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET type = 'page.left' WHERE event_id = 'e2'"))
    engine.dispose()
    result = invoke("audit", "verify")
    assert result.exit_code == 1 and "TAMPERED" in result.output and "event e2" in result.output
    report = json.loads(invoke("audit", "verify", "--json").output)
    assert report["first_problem"]["kind"] == "altered" and report["first_problem"]["seq"] == 3


def test_purge_then_verify_then_erase(invoke, tmp_path):
    _import(invoke, tmp_path)
    nothing = invoke("audit", "purge", "--before", "2000-01-01").output
    assert "Nothing recorded" in nothing and "Removed 0 outbox messages" in nothing
    purged = invoke("audit", "purge", "--before", "2100-01-01")
    # The latest page view stays: a last-event condition could still ask about it.
    assert purged.exit_code == 0 and "(0 decisions, 1 events)" in purged.output and "1 events, 0" in purged.output
    assert invoke("audit", "verify").exit_code == 0
    _import(invoke, tmp_path)
    erased = invoke("customers", "erase", "ann")
    assert erased.exit_code == 0 and "2 events deleted" in erased.output
    assert invoke("audit", "verify").exit_code == 0
    missing = invoke("customers", "erase", "ann")
    assert missing.exit_code == 1 and "no data" in missing.output


def test_purge_says_which_settled_messages_and_holds_it_removed(invoke, cli_db_url, starter_evaluator):
    assert invoke("db", "upgrade").exit_code == 0
    db = Database(cli_db_url)
    ingest_batch(db, [event("ann", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K-1")])
    held = decide(db, starter_evaluator, {"customer_id": "ann", "channel": "email", "purpose": "survey",
                                          "hold": True})
    cancel_hold(db, held["hold"]["hold_id"], utcnow())
    with db.raw_transaction() as sql:
        enqueue(sql, "hold.expired", {"customer_id": "bob"})
    fan_out(db, utcnow(), Policy())  # nobody subscribes: settled with no delivery
    db.dispose()
    purged = invoke("audit", "purge", "--before", "2100-01-01")
    assert purged.exit_code == 0
    assert "Removed 1 outbox messages settled before then (0 deliveries) and 1 settled holds" in purged.output
    assert invoke("audit", "verify").exit_code == 0


def test_erase_says_how_many_outbound_messages_it_scrubbed(invoke, cli_db_url, starter_evaluator):
    assert invoke("db", "upgrade").exit_code == 0
    db = Database(cli_db_url)
    ingest_batch(db, [event("ann", "complaint.opened", "2026-03-01T00:00:00Z", case_id="K-1")])
    decide(db, starter_evaluator, {"customer_id": "ann", "channel": "email", "purpose": "marketing"})  # care told
    db.dispose()
    erased = invoke("customers", "erase", "ann")
    assert erased.exit_code == 0, erased.output
    assert "1 outbound messages scrubbed" in erased.output and "1 care notifications forgotten" in erased.output
    assert invoke("audit", "verify").exit_code == 0


def test_purge_needs_a_date(invoke):
    result = invoke("audit", "purge", "--before", "last tuesday")
    assert result.exit_code == 2 and "not a date" in result.output


def test_erase_says_which_withdrawals_it_keeps_and_the_chain_verifies(invoke, tmp_path):
    path = tmp_path / "consent.ndjson"
    path.write_text(json.dumps({"event_id": "w1", "customer_id": "zoe", "type": "consent.withdrawn",
                                "occurred_at": "2026-03-01T00:00:00Z", "data": {"channel": "sms"}}) + "\n")
    assert invoke("events", "import", str(path)).exit_code == 0
    erased = invoke("customers", "erase", "zoe")
    assert erased.exit_code == 0 and "1 consent withdrawals kept as suppression markers" in erased.output
    assert "zoe" not in erased.output.split("Erased zoe:")[1]
    assert invoke("audit", "verify").exit_code == 0
    purged = invoke("audit", "purge", "--before", "2100-01-01")
    assert purged.exit_code == 0 and invoke("audit", "verify").exit_code == 0


def test_audit_erase_is_the_same_command_as_customers_erase(invoke, tmp_path):
    _import(invoke, tmp_path)
    erased = invoke("audit", "erase", "ann")
    assert erased.exit_code == 0 and "2 events deleted" in erased.output
    assert invoke("customers", "erase", "ann").exit_code != 0  # nothing left to erase under either name
    assert invoke("audit", "verify").exit_code == 0
