"""GET /v1/rules and POST /v1/rules/validate."""

from __future__ import annotations

import pytest

STARTER_IDS = {"care-first", "no-survey-during-complaint", "just-bought", "refund-pending", "exempt-transactional",
               "consent", "frequency-cap", "quiet-hours"}
GOOD = """rules:
  - id: vip-only
    description: Only VIPs hear about the private sale.
    when:
      - message.campaign_id: private-sale
      - attributes.tier: {ne: vip}
    outcome: block
    explanation: Private sale for VIPs only.
"""
BROKEN_YAML = "rules:\n  - id: x\n    description: [\n"
SEMANTIC = """rules:
  - id: one
    description: d
    when:
      - message.purpos: marketing
    outcome: allow
    explanation: e
  - id: two
    description: d
    outcome: blok
    explanation: e
"""


def test_the_active_rules_are_listed(api):
    body = api.get("/v1/rules").get_json()
    assert body["version"] == api.decide(customer_id="c", channel="email", purpose="service")["rules_version"]
    assert {r["id"] for r in body["rules"]} == STARTER_IDS
    care = next(r for r in body["rules"] if r["id"] == "care-first")
    assert care["file"] == "care.yaml" and care["line"] == 3 and care["priority"] == 90 and care["exempt"] is False
    assert [(c["outcome"], c["route"], c["notify"]) for c in care["cases"]] == [
        ("reroute", "care-priority", "care.requested"), ("reroute", "care", "care.requested")]
    assert "{complaint.case_id}" in care["cases"][1]["explanation"]
    assert next(r for r in body["rules"] if r["id"] == "exempt-transactional")["exempt"] is True
    assert body["warnings"] == []
    assert sorted(body["files"]) == ["care.yaml", "commerce.yaml", "respect.yaml"]


def test_a_valid_file_is_valid(api):
    response = api.post("/v1/rules/validate", json={"text": GOOD, "file": "vip.yaml"})
    assert response.status_code == 200
    assert response.get_json() == {"valid": True, "warnings": []}


def test_validating_activates_nothing(api):
    before = api.get("/v1/rules").get_json()["version"]
    api.post("/v1/rules/validate", json={"text": GOOD})
    assert api.get("/v1/rules").get_json()["version"] == before


def test_broken_yaml_is_located(api):
    response = api.post("/v1/rules/validate", json={"text": BROKEN_YAML, "file": "broken.yaml"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["valid"] is False
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert (error["file"], error["line"], error["column"], error["rule_id"]) == ("broken.yaml", 4, 1, None)
    assert "YAML" in error["message"]
    assert body["error"]["code"] == "rules_invalid"
    assert body["error"]["details"] == {"errors": body["errors"]}


def test_every_semantic_error_is_located(api):
    body = api.post("/v1/rules/validate", json={"text": SEMANTIC}).get_json()
    assert [(e["file"], e["line"], e["column"], e["rule_id"]) for e in body["errors"]] == [
        ("rules.yaml", 5, 9, "one"), ("rules.yaml", 10, 14, "two")]
    assert "did you mean 'message.purpose'" in body["errors"][0]["message"]
    assert "did you mean 'block'" in body["errors"][1]["message"]


def test_several_files_are_checked_together(api):
    rule = "rules:\n  - id: same\n    description: d\n    outcome: allow\n    explanation: e\n"
    body = api.post("/v1/rules/validate", json={"files": [{"name": "a.yaml", "text": rule},
                                                          {"name": "b.yaml", "text": "\n" + rule}]}).get_json()
    assert [(e["file"], e["line"], e["rule_id"]) for e in body["errors"]] == [("b.yaml", 3, "same")]
    assert "duplicate" in body["errors"][0]["message"]


@pytest.mark.parametrize("content_type", ["text/yaml", "application/yaml", "application/x-yaml",
                                          "text/plain; charset=utf-8"])
def test_a_raw_yaml_body_is_accepted(api, content_type):
    ok = api.post("/v1/rules/validate", data=GOOD.encode(), content_type=content_type)
    assert ok.status_code == 200 and ok.get_json()["valid"] is True
    bad = api.post("/v1/rules/validate?file=mine.yaml", data=SEMANTIC.encode(), content_type=content_type)
    assert bad.status_code == 422
    assert {e["file"] for e in bad.get_json()["errors"]} == {"mine.yaml"}


def test_an_empty_file_is_valid_with_a_warning(api):
    body = api.post("/v1/rules/validate", data=b"", content_type="text/yaml").get_json()
    assert body["valid"] is True
    assert [w["severity"] for w in body["warnings"]] == ["warning"]


@pytest.mark.parametrize("text", ["a: &x [1]\nb: *x\n", "[" * 5000 + "]" * 5000, "rules: " + "[" * 30 + "]" * 30,
                                  "\t\x01\x02", "rules:\n  - !!python/object:os.system {}\n"])
def test_hostile_files_are_errors_not_crashes(api, text):
    response = api.post("/v1/rules/validate", json={"text": text})
    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_a_yaml_body_that_is_not_utf8_is_400(api):
    response = api.post("/v1/rules/validate", data=b"rules: \xff\xfe", content_type="text/yaml")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_body"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "_schema"),
    ({"text": GOOD, "files": [{"name": "a.yaml", "text": GOOD}]}, "_schema"),
    ({"text": 42}, "text"),
    ({"text": GOOD, "file": "../etc/passwd"}, "file"),
    ({"files": []}, "files"),
    ({"files": [{"name": "a.yaml"}]}, "files"),
    ({"files": [{"name": "a.yaml", "text": GOOD}, {"name": "a.yaml", "text": GOOD}]}, "files"),
    ({"text": GOOD, "activate": True}, "activate"),
])
def test_bad_validate_requests_are_422_in_the_error_shape(api, body, field):
    response = api.post("/v1/rules/validate", json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]


def test_a_bad_file_name_for_a_yaml_body_is_422(api):
    response = api.post("/v1/rules/validate?file=a/b.yaml", data=GOOD.encode(), content_type="text/yaml")
    assert response.status_code == 422
    assert "file" in response.get_json()["error"]["details"]


def test_the_file_parameter_is_checked_for_json_bodies_too(api):
    response = api.post("/v1/rules/validate?file=", json={"text": GOOD})
    assert response.status_code == 422
    assert "file" in response.get_json()["error"]["details"]
