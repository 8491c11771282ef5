"""The keyed audit chain against someone who can write to the database: each bypass, done by SQL on a
committed database, makes `guard audit verify` exit 1 and name the first bad record."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from guard.app import Guard
from guard.core.canonical import content_hash
from guard.core.config import DEV_AUDIT_KEY, Settings
from guard.core.timeutil import iso, utcnow
from guard.decisions.service import decide
from guard.ledger.digests import ERASED_PREFIX, event_digest, link_hash, pseudonym, use_key
from guard.situation.events import ingest_batch
from guard.storage.database import Database
from guard.storage.migrations import upgrade
from guard.storage.tables.audit import AuditCheckpoint, AuditErasure, AuditRecord
from guard.storage.tables.auth import ApiKey
from guard.storage.tables.lifecycle import RuleActivation
from guard.storage.tables.situation import Event
from tests.cli.conftest import Invoke
from tests.conftest import RULES_DIR, event

KEY = secrets.token_hex(32)
MESSAGE = {"channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
_SEP = "\x1f"


@pytest.fixture(autouse=True)
def _dev_key_after() -> Iterator[None]:
    """Tests here key the process with KEY; the rest of the suite runs with the development key."""
    yield
    use_key(DEV_AUDIT_KEY)


@pytest.fixture
def keyed(invoke: Invoke) -> Invoke:
    """`guard ...` run with this module's audit key."""

    def run(*args: str, env: dict[str, str] | None = None) -> object:
        return invoke(*args, env={"GUARD_AUDIT_KEY": KEY, **(env or {})})

    return run  # type: ignore[return-value]


@pytest.fixture
def logged(cli_db_url: str) -> str:
    """A committed database with a chained rule version and activation, events, and decisions asked by `crm`."""
    upgrade(cli_db_url)
    guard = Guard(Settings(database_url=cli_db_url, rules_dir=str(RULES_DIR), audit_key=KEY.encode()))
    try:
        guard.seed_rules()
        ingest_batch(guard.db, [event("ann", "page.viewed", "2026-03-01T00:00:00Z", event_id="e1"),
                                event("bob", "page.viewed", "2026-03-02T00:00:00Z", event_id="e2")])
        for customer in ("ann", "bob", "cid"):
            decide(guard.db, guard.evaluator, {**MESSAGE, "customer_id": customer}, key_name="crm")
    finally:
        guard.rules.current.close()
        guard.db.dispose()
    return cli_db_url


def _sql(url: str, statement: str, **params: object) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def _add(url: str, row: object) -> None:
    """Insert a row as an attacker with the schema at hand would (through the ORM, for the right time format)."""
    db = Database(url)
    try:
        with db.transaction() as session:
            session.add(row)
    finally:
        db.dispose()


def _records(url: str) -> list[AuditRecord]:
    db = Database(url)
    try:
        with db.sessions() as session:
            rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
            session.expunge_all()
            return rows
    finally:
        db.dispose()


def _seq_of(url: str, kind: str, ref: str) -> int:
    return next(r.seq for r in _records(url) if r.kind == kind and r.ref == ref)


def _tampered(result: object, seq: int, record: str) -> None:
    """Exit 1, naming the record."""
    out = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, out  # type: ignore[attr-defined]
    assert "TAMPERED" in out and record in out, out


def _first_problem(keyed: Invoke) -> dict[str, object]:
    result = keyed("audit", "verify", "--json")
    assert result.exit_code == 1, result.output
    return json.loads(result.output)["first_problem"]


def test_an_untouched_keyed_log_verifies(keyed: Invoke, logged: str):
    result = keyed("audit", "verify")
    assert result.exit_code == 0 and result.output.startswith("OK: 7 records verified;"), result.output


def test_the_same_log_under_another_key_does_not_verify(keyed: Invoke, logged: str):
    result = keyed("audit", "verify", env={"GUARD_AUDIT_KEY": secrets.token_hex(32)})
    _tampered(result, 1, "rule_version 1")
    assert "keyed hash does not match" in result.output


def _relink_plainly(url: str, records: list[AuditRecord], start: int, prev: str) -> None:
    """What anyone could do to the old chain: renumber and re-link records from `start` with plain SHA-256."""
    for seq, record in enumerate(records, start=start):
        link = f"{prev}{_SEP}{seq}{_SEP}{record.kind}{_SEP}{record.ref}{_SEP}{iso(record.at)}{_SEP}{record.digest}"
        new = hashlib.sha256(link.encode()).hexdigest()
        _sql(url, "UPDATE audit_records SET seq = :new, prev_hash = :p, hash = :h WHERE seq = :old",
             new=seq, p=prev, h=new, old=record.seq)
        prev = new


def test_a_chain_relinked_with_plain_sha256_is_caught(keyed: Invoke, logged: str):
    """The attacker deletes an event and its record, then renumbers and re-links the rest as the old chain did."""
    records = _records(logged)
    gone = next(r for r in records if r.kind == "event" and r.ref == "e1")
    _sql(logged, "DELETE FROM events WHERE event_id = 'e1'")
    _sql(logged, "DELETE FROM audit_records WHERE seq = :seq", seq=gone.seq)
    _relink_plainly(logged, [r for r in records if r.seq > gone.seq], gone.seq, records[gone.seq - 2].hash)
    problem = _first_problem(keyed)
    assert problem["kind"] == "altered" and problem["seq"] == gone.seq, problem
    _tampered(keyed("audit", "verify"), gone.seq, "event e2")


def test_an_inserted_checkpoint_does_not_hide_deleted_history(keyed: Invoke, logged: str):
    """Delete the oldest records and their rows, then insert a checkpoint as if a purge had run."""
    upto = _seq_of(logged, "event", "e2")
    last = next(r for r in _records(logged) if r.seq == upto)
    _sql(logged, "DELETE FROM events")
    _sql(logged, "DELETE FROM audit_records WHERE seq <= :upto", upto=upto)
    _add(logged, AuditCheckpoint(upto_seq=upto, upto_hash=last.hash, before=utcnow(), created_at=utcnow(),
                                 counts={}))
    problem = _first_problem(keyed)
    assert problem["kind"] == "removed" and problem["record"] == "checkpoint 1", problem
    _tampered(keyed("audit", "verify"), upto, "checkpoint 1")


def test_an_erasure_row_outside_the_chain_excuses_nothing(keyed: Invoke, logged: str):
    seq = _seq_of(logged, "event", "e1")
    _sql(logged, "DELETE FROM events WHERE event_id = 'e1'")
    _add(logged, AuditErasure(customer_digest="0" * 64, event_ids=["e1"], decisions=0, created_at=utcnow()))
    problem = _first_problem(keyed)
    assert problem["kind"] == "removed" and problem["seq"] == seq and problem["record"] == "event e1", problem


def test_a_chained_erasure_cannot_be_widened_to_excuse_more(keyed: Invoke, logged: str):
    assert keyed("customers", "erase", "ann").exit_code == 0
    assert keyed("audit", "verify").exit_code == 0
    _sql(logged, "DELETE FROM events WHERE event_id = 'e2'")
    _sql(logged, "UPDATE audit_erasures SET event_ids = '[\"e1\", \"e2\"]'")
    problem = _first_problem(keyed)  # the widened row no longer matches its record: it excuses nothing now
    assert problem["record"] == "event e1" and problem["kind"] == "removed", problem
    assert "no chained record vouches" in problem["message"]


def test_a_changed_rule_text_is_caught(keyed: Invoke, logged: str):
    """The stored short content hash stays; only the text of an active rule file changes."""
    engine = create_engine(logged)
    with engine.begin() as conn:
        files = conn.execute(text("SELECT files FROM rule_versions WHERE number = 1")).scalar_one()
        files = json.loads(files) if isinstance(files, str) else files
        files[0]["text"] = files[0]["text"].replace("marketing", "survey", 1)
        conn.execute(text("UPDATE rule_versions SET files = :f WHERE number = 1"), {"f": json.dumps(files)})
    engine.dispose()
    problem = _first_problem(keyed)
    assert problem["kind"] == "altered" and problem["record"] == "rule_version 1", problem


@pytest.mark.parametrize("column, value", [("api_key_name", "'another-team'"), ("api_key_name", "NULL"),
                                           ("request_hash", "'" + "0" * 64 + "'")])
def test_who_asked_and_the_request_hash_are_digested(keyed: Invoke, logged: str, column: str, value: str):
    engine = create_engine(logged)
    with engine.connect() as conn:
        decision_id = conn.execute(text("SELECT decision_id FROM decisions ORDER BY id LIMIT 1")).scalar_one()
    engine.dispose()
    _sql(logged, f"UPDATE decisions SET {column} = {value} WHERE decision_id = :d", d=decision_id)
    problem = _first_problem(keyed)
    assert problem["kind"] == "altered" and problem["record"] == f"decision {decision_id}", problem


@pytest.mark.parametrize("row, named", [
    (lambda: RuleActivation(version=1, previous=1, kind="activate", actor="mallory", message="quietly",
                            activated_at=utcnow()), "activation 2"),
    (lambda: ApiKey(name="backdoor", prefix="gk_back", key_hash="b" * 64, scopes="admin", created_at=utcnow()),
     "key 1:created"),
])
def test_an_activation_or_key_inserted_by_sql_is_caught(keyed: Invoke, logged: str, row, named: str):
    """The newest activation row names the active rules; a key row lets its holder in: neither without a record."""
    _add(logged, row())
    problem = _first_problem(keyed)
    assert problem["kind"] == "inserted" and problem["record"] == named, problem


def test_a_purge_checkpoints_counts_are_digested_and_purged_setup_rows_are_not_flagged(keyed: Invoke, logged: str):
    purged = keyed("audit", "purge", "--before", "2100-01-01")
    assert purged.exit_code == 0, purged.output
    assert keyed("audit", "verify").exit_code == 0  # versions, activations: rows kept, records purged
    _sql(logged, "UPDATE audit_checkpoints SET counts = :c", c=json.dumps({"decisions": 0, "events": 0,
                                                                            "records": 0}))
    problem = _first_problem(keyed)
    assert problem["kind"] == "altered" and problem["record"].startswith("purge "), problem


def test_removing_the_newest_records_is_caught_against_an_exported_head(keyed: Invoke, logged: str,
                                                                        tmp_path: Path):
    exported = keyed("audit", "head")
    assert exported.exit_code == 0, exported.output
    head = json.loads(exported.output)
    records = _records(logged)
    assert head["seq"] == records[-1].seq and head["hash"] == records[-1].hash and head["at"]
    path = tmp_path / "head.json"
    path.write_text(exported.output)
    assert keyed("audit", "verify", "--since-head", str(path)).exit_code == 0
    newest = records[-1]
    assert newest.kind == "decisions"  # the newest group of decisions goes, with its one record
    _sql(logged, "DELETE FROM decisions WHERE audit_group = :g", g=int(newest.ref))
    _sql(logged, "DELETE FROM audit_records WHERE seq = :s", s=newest.seq)
    assert keyed("audit", "verify").exit_code == 0  # without a head kept outside, truncation cannot show
    result = keyed("audit", "verify", "--since-head", str(path))
    _tampered(result, newest.seq, f"record {newest.seq}")
    assert f"records {newest.seq} to {newest.seq} were removed" in result.output


def test_a_forged_or_foreign_head_is_refused(keyed: Invoke, logged: str, tmp_path: Path):
    head = json.loads(keyed("audit", "head").output)
    path = tmp_path / "head.json"
    path.write_text(json.dumps({**head, "seq": head["seq"] - 3}))
    result = keyed("audit", "verify", "--since-head", str(path))
    assert result.exit_code == 2 and "signature does not match" in result.output
    path.write_text(json.dumps(head))
    other = keyed("audit", "verify", "--since-head", str(path), env={"GUARD_AUDIT_KEY": secrets.token_hex(32)})
    assert other.exit_code == 2 and "signature does not match" in other.output
    assert f"key id {head['key_id']}, this key is" in other.output


def test_pseudonyms_are_keyed(keyed: Invoke, logged: str):
    """An erased id is not the plain SHA-256 of the id (guessable ids could be found back from it)."""
    assert keyed("customers", "erase", "ann").exit_code == 0
    engine = create_engine(logged)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT customer_id FROM decisions WHERE customer_id LIKE 'erased:%'")).scalar_one()
    engine.dispose()
    assert stored != ERASED_PREFIX + hashlib.sha256(b"ann").hexdigest()
    use_key(KEY.encode())
    assert stored == pseudonym("ann")
    use_key(secrets.token_hex(32).encode())
    assert pseudonym("ann") != stored
    assert keyed("audit", "verify").exit_code == 0


def test_production_mode_needs_an_audit_key(tmp_path: Path):
    with pytest.raises(SystemExit, match="GUARD_ENV=production needs an audit key"):
        Settings.from_env({"GUARD_ENV": "production"})
    with pytest.raises(SystemExit, match="at least 32"):
        Settings.from_env({"GUARD_AUDIT_KEY": "short"})
    key_file = tmp_path / "audit.key"
    key_file.write_text(KEY + "\n")
    settings = Settings.from_env({"GUARD_ENV": "production", "GUARD_AUDIT_KEY_FILE": str(key_file)})
    assert settings.audit_key == KEY.encode() and settings.env == "production"
    assert Settings.from_env({}).audit_key == DEV_AUDIT_KEY


def test_guard_serve_refuses_to_start_in_production_without_a_key(cli_db_url: str, tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "GUARD_ENV": "production", "GUARD_DATABASE_URL": cli_db_url,
           "GUARD_RULES_DIR": str(RULES_DIR)}
    proc = subprocess.run([sys.executable, "-m", "guard.cli", "serve", "--port", "0"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "GUARD_ENV=production needs an audit key" in proc.stderr


def test_records_chained_before_keying_verify_behind_the_epoch_record(keyed: Invoke, cli_db_url: str):
    """A database of the unkeyed release: its records keep their plain SHA-256 links, pinned by the keyed epoch
    record the migration chains after them; re-linking them plainly, or dropping the epoch, is caught."""
    upgrade(cli_db_url, "0003")
    now, prev = utcnow(), "0" * 64
    for seq, (event_id, customer) in enumerate((("old1", "ann"), ("old2", "bob")), start=1):
        raw = {"customer_id": customer, "type": "page.viewed", "occurred_at": now, "data": {}}
        _add(cli_db_url, Event(event_id=event_id, customer_id=customer, type="page.viewed", occurred_at=now,
                               data={}, content_hash=content_hash(raw), received_at=now))
        digest = event_digest(event_id, customer, "page.viewed", now, content_hash(raw), now, legacy=True)
        hash_ = link_hash(prev, seq, "event", event_id, now, digest, legacy=True)
        _add(cli_db_url, AuditRecord(seq=seq, kind="event", ref=event_id, at=now, digest=digest, prev_hash=prev,
                                     hash=hash_))
        prev = hash_
    result = keyed("audit", "verify")  # migrates first: the epoch record is chained with KEY
    assert result.exit_code == 0 and "3 records verified (2 chained before keying)" in result.output, result.output
    records = _records(cli_db_url)
    assert records[-1].kind == "epoch" and records[-1].seq == 3
    # A legacy event altered, then re-digested and re-linked as the old code would: the epoch's keyed link pins it.
    _sql(cli_db_url, "UPDATE events SET type = 'page.left' WHERE event_id = 'old1'")
    assert _first_problem(keyed)["record"] == "event old1"
    altered = {"customer_id": "ann", "type": "page.left", "occurred_at": now, "data": {}}
    redigested = event_digest("old1", "ann", "page.left", now, content_hash(altered), now, legacy=True)
    _sql(cli_db_url, "UPDATE audit_records SET digest = :d WHERE seq = 1", d=redigested)
    legacy = [r for r in _records(cli_db_url) if r.kind == "event"]
    _relink_plainly(cli_db_url, legacy, 1, "0" * 64)
    problem = _first_problem(keyed)
    assert problem["kind"] == "broken_link" and problem["seq"] == 3 and problem["record"] == "epoch 3", problem
    # Dropping the epoch record as well: without it no record may be unkeyed.
    _sql(cli_db_url, "DELETE FROM audit_records WHERE kind = 'epoch'")
    problem = _first_problem(keyed)
    assert problem["kind"] == "altered" and problem["seq"] == 1, problem
