"""Hostile rule files are located 422s when validated and when stored as a version, never 500s."""

from __future__ import annotations

import pytest

from tests.rules.hostile import HOSTILE


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

