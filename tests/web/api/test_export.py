"""GET /v1/decisions/export: the filtered audit log as CSV or NDJSON, streamed in keyset pages."""

from __future__ import annotations

import csv
import io
import json

from guard.app import Guard
from guard.decisions import export
from guard.decisions.projector import catch_up
from tests.conftest import event
from tests.web.api.conftest import Api, decision_body


def _seed(api: Api) -> list[dict]:
    api.events(event("x1", "complaint.opened", "2026-03-01T09:00:00Z", case_id="K-1"))
    answers = [
        api.decide(**decision_body("x1", campaign_id="spring")),                       # reroute (care-first)
        api.decide(**decision_body("x2", campaign_id="spring")),                       # allow
        api.decide(**decision_body("x1", purpose="survey", campaign_id="=cmd()")),     # block
        api.decide(**decision_body("x3", channel="sms", purpose="transactional")),     # allow (exempt)
    ]
    return answers


def _download(api: Api, query: str) -> tuple[int, dict, str]:
    response = api.client.get(f"/v1/decisions/export?{query}", headers={"Authorization": f"Bearer {api.token}"})
    return response.status_code, dict(response.headers), response.get_data(as_text=True)


def test_csv_has_a_header_and_one_row_per_decision_newest_first(api: Api):
    answers = _seed(api)
    status, headers, body = _download(api, "format=csv")
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"].startswith('attachment; filename="decisions-')
    assert headers["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["decision_id"] for r in rows] == [a["decision_id"] for a in reversed(answers)]
    survey = rows[1]
    assert (survey["outcome"], survey["winning_rule"], survey["campaign_id"]) == \
        ("block", "no-survey-during-complaint", "'=cmd()")  # a formula-looking cell is defused
    assert "K-1" in survey["explanation"]
    care = rows[3]
    assert (care["outcome"], care["route"], care["matched_rules"]) == ("reroute", "care", "care-first")
    assert rows[0]["winning_rule"] == "exempt-transactional" and rows[2]["winning_rule"] == ""


def test_ndjson_lines_are_the_audit_records(api: Api):
    answers = _seed(api)
    status, headers, body = _download(api, "format=ndjson&campaign_id=spring")
    assert status == 200 and headers["Content-Type"] == "application/x-ndjson"
    assert headers["Content-Disposition"].endswith('.ndjson"')
    records = [json.loads(line) for line in body.splitlines()]
    assert [r["decision_id"] for r in records] == [answers[1]["decision_id"], answers[0]["decision_id"]]
    one = api.get(f"/v1/decisions/{answers[0]['decision_id']}").get_json()
    assert records[1] == one  # exactly the record GET /v1/decisions/<id> shows


def test_the_filters_are_those_of_the_list(api: Api):
    _seed(api)
    for query in ("outcome=allow", "rule_id=care-first", "channel=sms", "purpose=survey", "customer_id=x1",
                  "since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z", "since=2100-01-01T00:00:00Z"):
        listed = api.get(f"/v1/decisions?{query}&limit=500").get_json()["items"]
        _, _, body = _download(api, f"format=ndjson&{query}")
        assert [json.loads(line)["decision_id"] for line in body.splitlines()] == \
            [d["decision_id"] for d in listed], query


def test_empty_selection_is_a_header_only(api: Api):
    status, _, body = _download(api, "customer_id=nobody")
    assert status == 200 and body == ",".join(export.CSV_COLUMNS) + "\r\n"
    assert _download(api, "format=ndjson&customer_id=nobody")[2] == ""


def test_bad_parameters_and_keys_are_refused_as_documented(api: Api, api_for):
    assert api.get("/v1/decisions/export?format=xlsx").status_code == 422
    assert api.get("/v1/decisions/export?limit=5").status_code == 422
    assert api.get("/v1/decisions/export?outcome=maybe").status_code == 422
    assert api.get("/v1/decisions/export", token=None).status_code == 401
    assert api_for("decide").get("/v1/decisions/export").status_code == 403
    assert api_for("read").client.get("/v1/decisions/export", headers={
        "Authorization": f"Bearer {api_for('read').token}"}).status_code == 200


def test_records_are_read_in_pages_without_gaps_or_repeats(api: Api, guard: Guard):
    answers = [api.decide(**decision_body(f"p{i}")) for i in range(7)]
    catch_up(guard.db)  # an export is as of the projection; called directly here, not through a GET
    seen = [r["decision_id"] for r in export.records(guard.db, {}, page=3)]
    assert seen == [a["decision_id"] for a in reversed(answers)]
    lines = list(export.csv_lines(guard.db, {}, page=3))
    assert len(lines) == 3  # pages of three rows (the header rides with the first), then the rest
    assert sum(chunk.count("\r\n") for chunk in lines) == 8
