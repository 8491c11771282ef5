"""The rule lifecycle through the HTTP API: create, diff, activate, dry-run a candidate, backtest, roll back."""

from __future__ import annotations

import time

import pytest

from guard.auth.keys import create_key
from guard.policy.parser import read_directory
from guard.web.factory import create_app
from tests.conftest import RULES_DIR

EXTRA = """\
rules:
  - id: vip-quiet
    description: VIP customers get no campaigns this month.
    priority: 10
    when:
      - message.purpose: marketing
      - attributes.segment: vip
    outcome: block
    explanation: "No campaigns for {attributes.segment} customers this month."
"""
VIP = {"customer_id": "c-9", "channel": "email", "purpose": "marketing", "send_at": "2026-03-10T12:00:00Z",
       "attributes": {"segment": "vip"}}


def _files(extra: str | None = None):
    files = [{"name": s.name, "text": s.text} for s in read_directory(RULES_DIR)]
    if extra:
        files.append({"name": "extra.yaml", "text": extra})
    return files


class Client:
    """A test client that authenticates as a named key."""

    def __init__(self, app, token):
        self.client, self.token = app.test_client(), token

    def __getattr__(self, method):
        def call(path, **kwargs):
            headers = {"Authorization": f"Bearer {self.token}"}
            return getattr(self.client, method)(path, headers=headers, **kwargs)
        return call


def _client(guard, name, *scopes):
    with guard.db.transaction() as session:
        _, token = create_key(session, name, scopes)
    app = create_app(guard)
    app.testing = True
    return Client(app, token)


@pytest.fixture
def admin(live_guard):
    return _client(live_guard, "alice", "admin")


@pytest.fixture
def reader(live_guard):
    return _client(live_guard, "rita", "read", "decide")


def test_admin_workflow_from_version_to_rollback(admin, reader):
    created = admin.post("/v1/rules/versions", json={"files": _files(EXTRA), "message": "quiet month for VIPs"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["number"], body["parent"], body["author"], body["active"]) == (2, 1, "alice", False)

    diff = reader.get("/v1/rules/versions/1/diff/2").get_json()
    assert diff["changed"] and "+  - id: vip-quiet" in diff["diff"]

    dry = reader.post("/v1/decisions", json={**VIP, "dry_run": True, "rules_version": 2}).get_json()
    assert (dry["outcome"], dry["rules_version"], dry["dry_run"]) == ("block", 2, True)
    live = reader.post("/v1/decisions", json=VIP).get_json()
    assert (live["outcome"], live["rules_version"]) == ("allow", 1)

    report = admin.post("/v1/rules/backtest", json={"version": 2}).get_json()
    assert (report["total"], report["changed"]) == (1, 1)
    assert report["samples"][0]["after"]["reasons"][0]["rule_id"] == "vip-quiet"

    activated = admin.post("/v1/rules/activate", json={"version": 2, "message": "go"})
    assert activated.status_code == 200 and activated.get_json()["previous"] == 1
    assert reader.get("/v1/rules").get_json()["version"] == 2
    assert reader.post("/v1/decisions", json=VIP).get_json()["outcome"] == "block"

    listing = reader.get("/v1/rules/versions").get_json()
    assert listing["active"] == 2
    latest = listing["activations"][0]
    assert (latest["actor"], latest["message"], latest["version"]) == ("alice", "go", 2)
    assert "+  - id: vip-quiet" in latest["diff"]

    rolled = admin.post("/v1/rules/rollback", json={"message": "too strict"})
    assert rolled.status_code == 200 and rolled.get_json()["version"] == 1
    answer = reader.post("/v1/decisions", json=VIP).get_json()
    assert (answer["outcome"], answer["rules_version"]) == ("allow", 1)


def test_a_broken_version_is_refused_with_locations_and_never_stored(admin, reader):
    broken = EXTRA.replace("attributes.segment: vip", "atributes.segment: vip")
    response = admin.post("/v1/rules/versions", json={"files": _files(broken), "message": "typo"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "rules_invalid"
    (problem,) = error["details"]["errors"]
    located = (problem["file"], problem["line"], problem["column"], problem["rule_id"])
    assert located == ("extra.yaml", 7, 9, "vip-quiet")
    assert [v["number"] for v in reader.get("/v1/rules/versions").get_json()["versions"]] == [1]


def test_a_version_failing_its_tests_is_refused(admin):
    failing = EXTRA + "tests:\n  - name: wrong\n    message: {channel: email, purpose: marketing, attributes: " \
                      "{segment: vip}}\n    expect: {outcome: allow}\n"
    response = admin.post("/v1/rules/versions", json={"files": _files(failing), "message": "bad test"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "rule_tests_failed"
    assert error["details"]["failed"][0]["name"] == "wrong"


def test_only_admins_change_rules(reader):
    for path, body in [("/v1/rules/versions", {"files": _files(), "message": "m"}),
                       ("/v1/rules/activate", {"version": 1}), ("/v1/rules/rollback", {}),
                       ("/v1/rules/backtest", {"version": 1})]:
        response = reader.post(path, json=body)
        assert response.status_code == 403, path
        assert response.get_json()["error"]["code"] == "forbidden"


def test_bad_lifecycle_input_gets_field_errors(admin):
    cases = [
        ("/v1/rules/activate", {"version": "two"}, "version"),
        ("/v1/rules/activate", {}, "version"),
        ("/v1/rules/versions", {"files": _files()}, "message"),
        ("/v1/rules/backtest", {"version": 1, "since": "2026-03-01"}, "since"),
        ("/v1/rules/backtest", {}, "_schema"),
    ]
    for path, body, field in cases:
        response = admin.post(path, json=body)
        assert response.status_code == 422, (path, body)
        assert field in response.get_json()["error"]["details"], (path, response.get_json())


def test_unknown_versions_and_jobs_are_404(admin, reader):
    assert admin.post("/v1/rules/activate", json={"version": 42}).status_code == 404
    assert reader.get("/v1/rules/versions/42/diff/1").status_code == 404
    assert admin.get("/v1/rules/backtest/nope").status_code == 404
    assert admin.post("/v1/rules/rollback", json={}).status_code == 409


def test_long_backtests_run_as_jobs(committed_guard):
    admin = _client(committed_guard, "alice", "admin")
    admin.post("/v1/decisions", json=VIP)
    started = admin.post("/v1/rules/backtest", json={"files": _files(EXTRA), "background": True})
    assert started.status_code == 202
    job = started.get_json()
    assert started.headers["Location"] == job["href"] == f"/v1/rules/backtest/{job['job_id']}"
    deadline = time.monotonic() + 20
    while (state := admin.get(job["href"]).get_json())["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state["status"] == "done" and state["report"]["changed"] == 1


def test_batch_dry_runs_use_the_named_version(admin, reader):
    admin.post("/v1/rules/versions", json={"files": _files(EXTRA), "message": "candidate"})
    body = {"requests": [{**VIP, "dry_run": True, "rules_version": 2}, {**VIP, "dry_run": True}]}
    first, second = reader.post("/v1/decisions/batch", json=body).get_json()["results"]
    assert (first["outcome"], first["rules_version"]) == ("block", 2)
    assert (second["outcome"], second["rules_version"]) == ("allow", 1)
