"""Rule sets at the engine's and the database's limits, through a Guard whose rules come from the version log."""

from __future__ import annotations

import threading
from collections import Counter

from guard.core.schemas import MAX_ATTRIBUTES, MAX_TEXT
from guard.decisions.service import MAX_CANDIDATES, decide, decide_batch
from guard.lifecycle.active import CACHE_SIZE
from guard.lifecycle.versions import create_version
from guard.policy.ast import RuleSource
from tests.lifecycle.test_http import _client, _files
from tests.web.api.test_rule_validation_hostile import many_conditions

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
    attributes = {f"x{i}": "v" * MAX_TEXT for i in range(MAX_ATTRIBUTES)}
    answer = admin.post("/v1/decisions", json={"customer_id": "full-c1", "channel": "email", "purpose": "service",
                                               "attributes": attributes})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["rules_version"] == created.get_json()["number"]


def _big_version(tag: str, rules: int = 250) -> list[RuleSource]:
    """A version slow to compile (hundreds of rules), matching nothing the tests send."""
    text = "rules:\n" + "".join(
        f"  - id: {tag}-{i}\n    description: d\n    when:\n      - message.campaign_id: {tag}-c{i}\n"
        f"      - attributes.k{i % 30}: {{in: [a, b, c]}}\n    outcome: block\n    explanation: e\n"
        for i in range(rules))
    return [RuleSource("big.yaml", text)]


def test_live_decisions_are_answered_while_dry_runs_compile_other_versions(committed_guard):
    guard = committed_guard
    numbers = [create_version(guard.db, _big_version(f"v{i}"), "alice", f"big {i}")["number"]
               for i in range(CACHE_SIZE + 1)]
    inside: list[int] = [0]  # the number of the compile in progress (odd while one is), set by the cycler
    done = threading.Event()

    def cycle() -> None:
        try:
            for number in numbers * 2:  # more versions than are cached: every call compiles
                inside[0] += 1
                guard.rules.version(number)
                inside[0] += 1
        finally:
            done.set()

    answered_within: Counter[int] = Counter()
    cycler = threading.Thread(target=cycle)
    cycler.start()
    while not done.is_set():
        before = inside[0]
        # live_guard-like: every live decision looks at the activation log (check_interval=0)
        decide(guard.db, guard.evaluator, {"customer_id": "busy-c1", "channel": "email", "purpose": "service"})
        if before % 2 == 1 and inside[0] == before:
            answered_within[before] += 1
    cycler.join()
    # Decisions are answered while a compile runs, not only between two compiles: were compiles to hold a
    # lock decisions wait on, none would start and end within one. How many fit in one compile depends on
    # the machine's load (a CI run saw at most 2 per compile), so the count is over all compiles.
    assert sum(answered_within.values()) >= 3, answered_within


def test_a_request_dry_runs_at_most_a_few_versions(committed_guard):
    guard = committed_guard
    numbers = [create_version(guard.db, _big_version(f"w{i}", 3), "alice", f"small {i}")["number"]
               for i in range(MAX_CANDIDATES + 1)]
    raws = [{"customer_id": f"dry-{n}", "channel": "email", "purpose": "service", "dry_run": True,
             "rules_version": n} for n in numbers]
    results = decide_batch(guard.db, guard.evaluator, raws * 2, versions=guard.rules.version)
    assert [r.get("rules_version") for r in results] == [*numbers[:MAX_CANDIDATES], None] * 2
    refused = [r for r in results if "error" in r]
    assert {r["error"]["code"] for r in refused} == {"validation_failed"}
    assert all("rules_version" in r["error"]["details"] for r in refused)
