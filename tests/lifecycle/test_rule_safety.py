"""Rule sets at the engine's and the database's limits, through a Guard whose rules come from the version log."""

from __future__ import annotations

from guard.schemas import MAX_ATTRIBUTE_TEXT, MAX_ATTRIBUTES
from tests.http.test_rule_validation_hostile import many_conditions
from tests.lifecycle.test_http import _client, _files

LONG_ROUTE = "r" * 200
ROUTED = f"""\
rules:
  - id: long-route
    description: Everything goes the long way.
    priority: 100
    when:
      - attributes.long_way: true
    outcome: reroute
    route: {LONG_ROUTE}
    explanation: the long way
"""


def test_the_longest_route_a_rule_may_name_is_recorded(live_guard):
    admin = _client(live_guard, "alice", "admin")
    created = admin.post("/v1/rules/versions", json={"files": _files(ROUTED), "message": "long", "activate": True})
    assert created.status_code == 201, created.get_json()
    live_guard.rules.refresh()
    answer = admin.post("/v1/decisions", json={"customer_id": "route-c1", "channel": "email",
                                               "purpose": "marketing", "attributes": {"long_way": True}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["route"] == LONG_ROUTE
    stored = admin.get(f"/v1/decisions/{answer.get_json()['decision_id']}").get_json()
    assert stored["route"] == LONG_ROUTE
    too_long = ROUTED.replace(LONG_ROUTE, LONG_ROUTE + "r")
    refused = admin.post("/v1/rules/versions", json={"files": _files(too_long), "message": "longer"})
    assert refused.status_code == 422
    [error] = refused.get_json()["error"]["details"]["errors"]
    assert (error["file"], error["line"], error["column"]) == ("extra.yaml", 8, 12)


def test_a_full_rule_set_still_answers_a_request_with_every_attribute_allowed(live_guard):
    admin = _client(live_guard, "alice", "admin")
    full = many_conditions(240 - 6).replace("id: ok", "id: ok-full").replace("id: many", "id: many-full")
    created = admin.post("/v1/rules/versions", json={"files": _files(full), "message": "full", "activate": True})
    assert created.status_code == 201, created.get_json()
    live_guard.rules.refresh()
    attributes = {f"x{i}": "v" * MAX_ATTRIBUTE_TEXT for i in range(MAX_ATTRIBUTES)}
    answer = admin.post("/v1/decisions", json={"customer_id": "full-c1", "channel": "email", "purpose": "service",
                                               "attributes": attributes})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["rules_version"] == created.get_json()["number"]
