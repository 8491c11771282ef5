"""`guard events import FILE`: NDJSON in batches, a summary with the line of every bad line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from guard.storage.database import Database
from guard.storage.tables.situation import Event
from tests.cli.conftest import Invoke
from tests.conftest import event


def _line(i: int, **overrides: object) -> str:
    payload = event(f"c{i % 7}", "newsletter.opened", f"2026-01-01T00:00:{i % 60:02d}Z", event_id=f"e{i}")
    return json.dumps({**payload, **overrides})


def _count(url: str) -> int:
    db = Database(url)
    try:
        with db.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Event)) or 0)
    finally:
        db.dispose()


def test_import_a_file_in_several_batches(invoke: Invoke, cli_db_url: str, tmp_path: Path):
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(_line(i) for i in range(2500)) + "\n")
    result = invoke("events", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "2500 created, 0 duplicates, 0 errors"
    assert "Importing events" not in result.stderr  # no terminal, no progress bar (tests/cli/test_progress.py)
    assert _count(cli_db_url) == 2500


def test_importing_again_counts_duplicates(invoke: Invoke, cli_db_url: str, tmp_path: Path):
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(_line(i) for i in range(10)))  # no newline at the end
    assert invoke("events", "import", str(path)).exit_code == 0
    result = invoke("events", "import", str(path))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "0 created, 10 duplicates, 0 errors"
    assert _count(cli_db_url) == 10


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_is_imported(
        invoke: Invoke, cli_db_url: str, tmp_path: Path):
    lines = [
        _line(1),
        "{not json",
        "",  # blank lines are skipped, not errors
        _line(2, occurred_at="yesterday"),
        '{"event_id": "e9", "occurred_at": NaN}',
        "[1, 2]",
        _line(1, customer_id="someone-else"),  # same event id, different content
        _line(1),
        _line(3),
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("events", "import", str(path))
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert out[-1] == "2 created, 1 duplicates, 5 errors (bad lines: 2, 4, 5, 6, 7)"
    assert out[0].startswith("line 2: malformed_json: ")
    assert out[1].startswith("line 4: validation_failed: ") and "occurred_at" in out[1]
    assert out[2] == "line 5: malformed_json: NaN is not a JSON number"
    assert out[3].startswith("line 6: validation_failed: ")
    assert out[4].startswith("line 7: event_conflict: ")
    assert _count(cli_db_url) == 2


def test_import_from_stdin(invoke: Invoke, cli_db_url: str):
    data = "\ufeff" + "\n".join(_line(i) for i in range(3)) + "\n"  # a byte order mark is tolerated
    result = invoke("events", "import", "-", input=data.encode())
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "3 created, 0 duplicates, 0 errors"
    assert _count(cli_db_url) == 3


def test_invalid_utf8_is_a_bad_line(invoke: Invoke):
    data = _line(1).encode() + b"\n\xff\xfe{}\n"
    result = invoke("events", "import", "-", input=data)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "1 created, 0 duplicates, 1 errors (bad lines: 2)"


def test_an_empty_file_imports_nothing(invoke: Invoke, tmp_path: Path):
    path = tmp_path / "empty.ndjson"
    path.write_text("")
    result = invoke("events", "import", str(path))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "0 created, 0 duplicates, 0 errors"


def test_a_missing_file_is_a_usage_error(invoke: Invoke, tmp_path: Path):
    result = invoke("events", "import", str(tmp_path / "nope.ndjson"))
    assert result.exit_code == 2


def test_lines_are_read_as_the_api_reads_them(invoke: Invoke, cli_db_url: str, tmp_path: Path):
    # The reader of POST /v1/decisions/stream: text no database can store, numbers that overflow and
    # overlong lines are bad lines of their own, and the rest is still imported.
    from guard.core.strictjson import MAX_LINE_BYTES

    lines = [
        _line(1),
        _line(2, event_id="e2\x00"),
        _line(3, customer_id="lone\ud800"),
        _line(4, data={"amount": 1e999}).replace("Infinity", "1e999"),
        _line(5, data={"note": "x" * MAX_LINE_BYTES}),
        _line(6),
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("events", "import", str(path))
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert out[-1] == "2 created, 0 duplicates, 4 errors (bad lines: 2, 3, 4, 5)"
    assert out[0].startswith("line 2: validation_failed: ") and out[1].startswith("line 3: validation_failed: ")
    assert out[2] == "line 4: malformed_json: 1e999 is too large"
    assert out[3] == f"line 5: payload_too_large: Line 5 is longer than {MAX_LINE_BYTES} bytes."
    assert _count(cli_db_url) == 2


def _analysed(url: str) -> tuple[int, int] | None:
    """(the planner's row estimate, manual ANALYZE count) of the events table on PostgreSQL; None on SQLite."""
    db = Database(url)
    try:
        if db.engine.dialect.name != "postgresql":
            return None
        with db.sessions() as session:
            row = session.execute(text("SELECT c.reltuples, s.analyze_count FROM pg_class c JOIN pg_stat_user_tables s "
                                       "ON s.relid = c.oid WHERE c.relname = 'events'")).first()
            return (int(row[0]), int(row[1])) if row else (0, 0)  # no table before the CLI's first run
    finally:
        db.dispose()


def test_an_import_leaves_postgresql_statistics_that_know_the_new_rows(invoke: Invoke, cli_db_url: str,
                                                                      tmp_path: Path):
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(_line(i) for i in range(1500)) + "\n")
    before = _analysed(cli_db_url)
    assert invoke("events", "import", str(path)).exit_code == 0
    after = _analysed(cli_db_url)
    if after is None:
        pytest.skip("SQLite: no statistics are gathered (the planner was measured without them)")
    assert after[0] >= 1500  # the planner's row estimate counts the imported events
    assert before is not None and after[1] > before[1]
    assert invoke("events", "import", str(path)).exit_code == 0  # nothing new: no second ANALYZE
    assert _analysed(cli_db_url) == after
