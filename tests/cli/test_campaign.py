"""`guard campaign screen`: CSV or NDJSON in, decisions out, a summary of outcomes and reasons."""

from __future__ import annotations

import csv
import json

from sqlalchemy import create_engine, func, select

from guard.storage.tables.decisions import Decision


def _events(invoke, tmp_path):
    events = [{"event_id": "e1", "customer_id": "angry", "type": "complaint.opened",
               "occurred_at": "2026-03-01T00:00:00Z", "data": {"case_id": "K-1"}}]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    assert invoke("events", "import", str(path)).exit_code == 0


def _count(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Decision)).scalar()
    engine.dispose()
    return count


def test_csv_in_csv_out_with_summary(invoke, tmp_path, cli_db_url):
    _events(invoke, tmp_path)
    source = tmp_path / "spring.csv"
    source.write_text("customer_id,product_ids,attributes.tier\nangry,P1;P2,gold\ncalm,,\nquiet,P3,\n")
    out = tmp_path / "decisions.csv"
    result = invoke("campaign", "screen", str(source), "-o", str(out), "--channel", "email",
                    "--purpose", "marketing", "--campaign-id", "spring", "--send-at", "2026-03-10T12:00:00Z")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [(r["customer_id"], r["outcome"], r["rule_id"]) for r in rows] == [
        ("angry", "reroute", "care-first"), ("calm", "allow", ""), ("quiet", "allow", "")]
    assert "reroute            1" in result.output and "care-first" in result.output
    assert _count(cli_db_url) == 3


def test_ndjson_in_ndjson_out_with_bad_lines(invoke, tmp_path, cli_db_url):
    message = {"channel": "sms", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
    lines = [json.dumps({**message, "customer_id": f"c{n}"}) for n in range(5)] + ["{oops", json.dumps({"x": 1})]
    source = tmp_path / "campaign.ndjson"
    source.write_text("\n".join(lines) + "\n")
    result = invoke("campaign", "screen", str(source))
    decisions = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [d["index"] for d in decisions] == list(range(7))
    assert decisions[5]["error"]["code"] == "malformed_json" and decisions[6]["error"]["code"] == "validation_failed"
    assert "error              2" in result.output
    assert _count(cli_db_url) == 5


def test_ndjson_lines_are_read_as_the_api_reads_a_stream(invoke, tmp_path, cli_db_url):
    message = {"channel": "sms", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z"}
    lines = [json.dumps({**message, "customer_id": f"c{n}"}) for n in range(4)]
    lines[1] = '{"customer_id": "inf", "channel": "sms", "purpose": "marketing", "attributes": {"x": Infinity}}'
    lines[2] = json.dumps({**message, "customer_id": "nul\x00"})
    source = tmp_path / "campaign.ndjson"
    source.write_text("\n".join(lines) + "\n")
    result = invoke("campaign", "screen", str(source), "--campaign-id", "spring")
    decisions = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [d["index"] for d in decisions] == [0, 1, 2, 3]
    assert decisions[1]["error"]["code"] == "malformed_json" and decisions[1]["error"]["details"]["line"] == 2
    assert decisions[2]["error"]["code"] == "validation_failed"
    assert decisions[0]["outcome"] == decisions[3]["outcome"] == "allow"
    assert _count(cli_db_url) == 2
