"""Hostile rule files are located 422s when validated and when stored as a version, never 500s."""

from __future__ import annotations

import pytest

from tests.policy.hostile import HOSTILE


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_validation_locates_it(api, name: str):
    text, line, column, word = HOSTILE[name]
    response = api.post("/v1/rules/validate", json={"text": text, "file": "bad.yaml"})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"]["code"] == "rules_invalid"
    [error] = body["errors"]
    assert (error["file"], error["line"], error["column"]) == ("bad.yaml", line, column)
    assert word in error["message"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_such_a_version_cannot_be_stored(api, name: str):
    text = HOSTILE[name][0]
    before = api.get("/v1/rules/versions").get_json()
    response = api.post("/v1/rules/versions", json={"files": [{"name": "bad.yaml", "text": text}], "message": "x"})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "rules_invalid"
    assert api.get("/v1/rules/versions").get_json() == before



def many_conditions(history: int, attributes: int = 0) -> str:
    """A rule set whose second rule tests `history` distinct history conditions and `attributes` attributes."""
    conditions = "".join(f"      - event: {{type: t{i}.x, within: 1d}}\n" for i in range(history))
    conditions += "".join(f"      - attributes.a{i}: v\n" for i in range(attributes))
    return ("rules:\n  - id: ok\n    description: d\n    when:\n      - message.campaign_id: no-such-campaign\n"
            "    outcome: block\n    explanation: e\n"
            f"  - id: many\n    description: d\n    when:\n{conditions}    outcome: block\n    explanation: e\n")


@pytest.mark.parametrize(("history", "attributes"), [(241, 0), (200, 41)])
def test_a_rule_set_whose_facts_the_engine_cannot_hold_is_refused_where_it_grows_too_big(
        api, history: int, attributes: int):
    text = many_conditions(history, attributes)
    response = api.post("/v1/rules/validate", json={"text": text, "file": "many.yaml"})
    assert response.status_code == 422, response.get_json()
    [error] = response.get_json()["errors"]
    assert (error["file"], error["line"], error["column"], error["rule_id"]) == ("many.yaml", 8, 5, "many")
    assert "at most 240 fit" in error["message"]
    stored = api.post("/v1/rules/versions", json={"files": [{"name": "many.yaml", "text": text}], "message": "x"})
    assert stored.status_code == 422 and stored.get_json()["error"]["code"] == "rules_invalid"


def test_the_largest_rule_set_the_engine_holds_is_valid(api):
    response = api.post("/v1/rules/validate", json={"text": many_conditions(200, 40), "file": "many.yaml"})
    assert response.status_code == 200, response.get_json()
