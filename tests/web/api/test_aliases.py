"""Identity links: `/v1/customers/<id>/aliases`, and decisions under any name seeing one combined situation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from guard.audit.retention import erase_customer, purge
from guard.audit.verify import verify
from guard.core.timeutil import utcnow
from guard.situation.aliases import resolve
from guard.sources.receive import alias_of
from tests.conftest import event
from tests.web.api.conftest import decision_body

SHOP, HELPDESK, CRM = "shop:7890123456789", "helpdesk:381626", "cust-42"
MARKETING = {"channel": "email", "purpose": "marketing", "product_ids": ["espresso-pro"],
             "send_at": "2026-03-04T10:00:00Z"}


def _verify(guard):
    with guard.db.sessions() as session:
        return verify(session)


def _rows(guard, query):
    with guard.db.sessions() as session:
        return [tuple(row) for row in session.execute(text(query))]


@pytest.fixture
def two_tools(api):
    """A purchase known to the shop and a complaint known to the helpdesk, each under its own name."""
    api.events(event(SHOP, "purchase.completed", "2026-03-02T18:00:00Z", order_id="ORD-981",
                     product_ids=["espresso-pro"]),
               event(HELPDESK, "complaint.opened", "2026-03-03T09:00:00Z", case_id="ZD-381"))


def _link(api, customer_id=CRM, *aliases, expect=201):
    response = api.post(f"/v1/customers/{customer_id}/aliases", json={"aliases": list(aliases)})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def _rule_ids(answer):
    return {r["rule_id"] for r in answer["reasons"]}


def test_aliases_join_a_shop_customer_and_a_helpdesk_requester_into_one_situation(api, two_tools):
    survey = {**MARKETING, "purpose": "survey", "product_ids": []}
    # Apart, the shop's customer has no complaint and the helpdesk's requester bought nothing.
    assert api.decide(customer_id=SHOP, **survey)["outcome"] == "allow"
    assert "just-bought" not in _rule_ids(api.decide(customer_id=HELPDESK, **MARKETING))

    linked = _link(api, CRM, SHOP, HELPDESK, "email:ann@example.com")
    assert linked == {"customer_id": CRM, "created": 3, "results": [
        {"alias": SHOP, "status": "created"}, {"alias": HELPDESK, "status": "created"},
        {"alias": "email:ann@example.com", "status": "created"}]}

    for name in (SHOP, HELPDESK, CRM, "email:ann@example.com"):
        marketing = api.decide(customer_id=name, **MARKETING)
        # The shop's purchase and the helpdesk's complaint, both: just-bought blocks, care-first also matched.
        assert marketing["outcome"] == "block", name
        assert [r["rule_id"] for r in marketing["reasons"]] == ["just-bought", "care-first"], name
        assert api.decide(customer_id=name, **survey)["reasons"][0]["rule_id"] == "no-survey-during-complaint"
        view = api.get(f"/v1/customers/{name}?at=2026-03-04T10:00:00Z").get_json()
        assert [c["case_id"] for c in view["open_complaints"]] == ["ZD-381"], name
        assert [p["order_id"] for p in view["recent_purchases"]] == ["ORD-981"], name
        assert view["aliases"] == [SHOP, HELPDESK, "email:ann@example.com"]
        assert view["linked_to"] == (None if name == CRM else CRM)
    timeline = api.get(f"/v1/customers/{CRM}/timeline").get_json()["items"]
    assert {i["event_id"] for i in timeline if i["kind"] == "event"} == {
        f"{SHOP}-purchase.completed-2026-03-02T18:00:00Z", f"{HELPDESK}-complaint.opened-2026-03-03T09:00:00Z"}


def test_the_purchase_under_one_alias_blocks_a_promotion_asked_under_another(api):
    api.events(event(SHOP, "purchase.completed", "2026-03-02T18:00:00Z", order_id="ORD-1",
                     product_ids=["espresso-pro"]))
    assert api.decide(customer_id=HELPDESK, **MARKETING)["outcome"] == "allow"
    _link(api, CRM, SHOP, HELPDESK)
    for name in (HELPDESK, CRM):
        answer = api.decide(customer_id=name, **MARKETING)
        assert answer["outcome"] == "block" and answer["reasons"][0]["rule_id"] == "just-bought", name


def test_batches_streams_and_dry_runs_see_the_combined_situation(api, two_tools):
    _link(api, CRM, SHOP, HELPDESK)
    batch = api.post("/v1/decisions/batch", json={"message": MARKETING,
                                                   "customer_ids": [SHOP, "stranger", HELPDESK, CRM]})
    outcomes = [r["outcome"] for r in batch.get_json()["results"]]
    assert outcomes == ["block", "allow", "block", "block"]
    lines = "\n".join(json.dumps({"customer_id": c, **MARKETING}) for c in (HELPDESK, "stranger", SHOP))
    stream = api.client.post("/v1/decisions/stream", data=lines, content_type="application/x-ndjson",
                             headers={"Authorization": f"Bearer {api.token}"})
    assert [json.loads(line)["outcome"] for line in stream.get_data(as_text=True).splitlines()] == [
        "block", "allow", "block"]
    dry = api.decide(customer_id=SHOP, dry_run=True, **MARKETING)
    assert dry["outcome"] == "block" and dry["dry_run"] is True
    assert _rule_ids(dry) == {"just-bought", "care-first"}


def test_the_frequency_cap_counts_decisions_asked_under_every_name(api):
    _link(api, CRM, SHOP, HELPDESK)
    plain = {**MARKETING, "product_ids": []}
    times = ["2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z", "2026-03-03T10:00:00Z"]
    for name, at in zip((SHOP, HELPDESK, CRM), times, strict=True):
        assert api.decide(customer_id=name, **{**plain, "send_at": at})["outcome"] == "allow"
    fourth = api.decide(customer_id=SHOP, **plain)
    assert fourth["outcome"] == "defer" and fourth["reasons"][0]["rule_id"] == "frequency-cap"
    # In one batch too: the third decision of the batch, under a third name, is the one deferred.
    batch = api.post("/v1/decisions/batch", json={"requests": [
        {"customer_id": n, **plain, "send_at": f"2026-04-0{i + 1}T10:00:00Z"}
        for i, n in enumerate(("email:a@b.example", "email:a@b.example", "x:1", "x:2"))]})
    assert [r["outcome"] for r in batch.get_json()["results"]] == ["allow", "allow", "allow", "allow"]
    _link(api, "cust-43", "x:1", "x:2", "email:a@b.example")
    batch = api.post("/v1/decisions/batch", json={"requests": [
        {"customer_id": n, **plain, "send_at": f"2026-04-0{i + 5}T11:00:00Z"}
        for i, n in enumerate(("cust-43", "x:1"))]})  # 04-05 and 04-06: all four earlier ones count
    assert [r["outcome"] for r in batch.get_json()["results"]] == ["defer", "defer"]


def test_listing_and_unlinking(api, two_tools, guard):
    assert api.get(f"/v1/customers/{CRM}/aliases").get_json() == {"customer_id": CRM, "aliases": []}
    _link(api, CRM, SHOP, HELPDESK)
    again = _link(api, CRM, HELPDESK, "email:ann@example.com")
    assert again["results"] == [{"alias": HELPDESK, "status": "duplicate"},
                                {"alias": "email:ann@example.com", "status": "created"}]
    assert _link(api, CRM, SHOP, expect=200)["created"] == 0
    listed = api.get(f"/v1/customers/{CRM}/aliases").get_json()
    assert [a["alias"] for a in listed["aliases"]] == [SHOP, HELPDESK, "email:ann@example.com"]

    gone = api.request("DELETE", f"/v1/customers/{CRM}/aliases/{HELPDESK}")
    assert gone.status_code == 200 and gone.get_json() == {"customer_id": CRM, "alias": HELPDESK,
                                                           "status": "deleted"}
    assert api.request("DELETE", f"/v1/customers/{CRM}/aliases/{HELPDESK}").status_code == 404
    assert api.request("DELETE", f"/v1/customers/other/aliases/{SHOP}").status_code == 404
    # The helpdesk's complaint no longer counts for the shop's customer.
    assert "care-first" not in _rule_ids(api.decide(customer_id=SHOP, **MARKETING))
    assert _verify(guard).ok


@pytest.mark.parametrize(("body", "field"), [
    ({"aliases": ["no-prefix"]}, "aliases"),
    ({"aliases": [":empty-prefix"]}, "aliases"),
    ({"aliases": ["shop:"]}, "aliases"),
    ({"aliases": ["shop:a\nb"]}, "aliases"),
    ({"aliases": ["shop:" + "9" * 200]}, "aliases"),
    ({"aliases": [f"shop:{i}" for i in range(101)]}, "aliases"),
    ({"aliases": []}, "aliases"),
    ({"aliases": "shop:1"}, "aliases"),
    ({"aliases": ["shop:1"], "extra": 1}, "extra"),
    ({}, "aliases"),
    ({"aliases": [CRM + ":x", CRM]}, "aliases"),
])
def test_bad_links_are_422_and_store_nothing(api, guard, body, field):
    response = api.post(f"/v1/customers/{CRM}/aliases", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and field in error["details"], error
    assert _rows(guard, "SELECT alias FROM customer_aliases") == []


def test_email_aliases_are_stored_as_inbound_webhooks_look_them_up(api, guard):
    linked = _link(api, CRM, "email:Ann@Example.COM", "shop:AbC")
    assert [r["alias"] for r in linked["results"]] == ["email:ann@example.com", "shop:AbC"]
    with guard.db.sessions() as session:
        assert resolve(session, alias_of("newsletter", "ann@example.com")) == CRM
        assert resolve(session, alias_of("shop", "AbC")) == CRM and resolve(session, "shop:abc") is None
    assert api.request("DELETE", f"/v1/customers/{CRM}/aliases/email:ANN@example.com").status_code == 200


def test_a_customer_id_cannot_be_its_own_alias(api, guard):
    weird = "crm:42"
    response = api.post(f"/v1/customers/{weird}/aliases", json={"aliases": [weird]})
    assert response.status_code == 422 and response.get_json()["error"]["details"] == {
        "aliases": ["The customer id itself is not an alias."]}


def test_conflicting_links_are_409_and_nothing_of_the_request_is_stored(api, guard):
    _link(api, CRM, SHOP)
    taken = api.post("/v1/customers/cust-99/aliases", json={"aliases": ["email:new@example.com", SHOP]})
    assert taken.status_code == 409
    assert taken.get_json()["error"] == {"code": "alias_taken", "message": taken.get_json()["error"]["message"],
                                         "details": {"aliases": {SHOP: ["Linked to another customer."]}}}
    # A link to a name that is itself an alias, or of a customer id that has aliases: no chains of names.
    chained = api.post(f"/v1/customers/{SHOP}/aliases", json={"aliases": ["email:new@example.com"]})
    assert chained.status_code == 409 and chained.get_json()["error"]["code"] == "alias_chain"
    _link(api, "crm:42", "email:crm@example.com")
    parent = api.post("/v1/customers/cust-99/aliases", json={"aliases": ["crm:42"]})
    assert parent.status_code == 409 and parent.get_json()["error"]["details"] == {
        "aliases": {"crm:42": ["A customer id with aliases."]}}
    assert sorted(_rows(guard, "SELECT alias, customer_id FROM customer_aliases")) == [
        ("email:crm@example.com", "crm:42"), (SHOP, CRM)]
    assert _verify(guard).ok


def test_a_customer_keeps_at_most_100_aliases(api, guard):
    _link(api, CRM, *[f"shop:{i}" for i in range(60)])
    _link(api, CRM, *[f"shop:{i}" for i in range(60, 100)])
    over = api.post(f"/v1/customers/{CRM}/aliases", json={"aliases": ["shop:100", "shop:5"]})
    assert over.status_code == 409 and over.get_json()["error"]["code"] == "too_many_aliases"
    assert _link(api, CRM, "shop:5", expect=200)["results"] == [{"alias": "shop:5", "status": "duplicate"}]


def test_an_alias_with_a_slash_and_a_customer_known_only_by_links(api):
    _link(api, "a/b", "vendor:x/y")
    assert api.get("/v1/customers/a/b/aliases").get_json()["aliases"][0]["alias"] == "vendor:x/y"
    view = api.get("/v1/customers/vendor:x/y").get_json()
    assert view["linked_to"] == "a/b" and view["event_count"] == 0
    assert api.request("DELETE", "/v1/customers/a/b/aliases/vendor:x/y").status_code == 200
    assert api.get("/v1/customers/vendor:x/y").status_code == 404


def test_links_are_chained_and_tampering_with_them_is_found(api, guard):
    _link(api, CRM, SHOP, HELPDESK)
    api.request("DELETE", f"/v1/customers/{CRM}/aliases/{SHOP}")
    records = _rows(guard, "SELECT kind, ref FROM audit_records WHERE kind = 'alias' ORDER BY seq")
    ids = [i for i, in _rows(guard, "SELECT id FROM customer_aliases ORDER BY id")]
    assert [kind for kind, _ in records] == ["alias"] * 3
    assert [ref.split(":")[1] for _, ref in records] == ["linked", "linked", "unlinked"]
    stored = json.dumps(_rows(guard, "SELECT * FROM audit_records"), default=str)
    assert HELPDESK not in stored and CRM not in stored  # names enter digests only keyed
    assert _verify(guard).ok

    with guard.db.transaction() as session:  # re-pointed behind the log's back
        session.execute(text("UPDATE customer_aliases SET customer_id = 'mallory' WHERE id = :i"), {"i": ids[0]})
    problem = _verify(guard).problems[0]
    assert (problem.kind, problem.record) == ("altered", f"alias {ids[0]}:linked")
    with guard.db.transaction() as session:  # removed without an unlink record
        session.execute(text("DELETE FROM customer_aliases WHERE id = :i"), {"i": ids[0]})
    problem = _verify(guard).problems[0]
    assert (problem.kind, problem.record) == ("removed", f"alias {ids[0]}:linked")
    with guard.db.transaction() as session:  # a link inserted without a record
        session.execute(text("DELETE FROM audit_records WHERE kind = 'alias' AND ref = :r"),
                        {"r": f"{ids[0]}:linked"})
    assert _verify(guard).problems[0].kind in ("removed", "broken_link")


def test_a_link_inserted_behind_the_logs_back_is_named(api, guard):
    with guard.db.transaction() as session:
        session.execute(text("INSERT INTO customer_aliases (alias, customer_id, created_at) "
                             "VALUES ('shop:1', 'mallory', '2026-01-01 00:00:00')"))
    problem = _verify(guard).problems[0]
    assert problem.kind == "inserted" and problem.record.startswith("alias ")


def test_erasing_a_customer_removes_their_links(api, guard, two_tools):
    _link(api, CRM, SHOP, "email:ann@example.com")
    api.decide(customer_id=CRM, **MARKETING)
    result = erase_customer(guard.db, CRM)
    assert result["aliases_unlinked"] == ["email:ann@example.com", SHOP]
    assert _rows(guard, "SELECT * FROM customer_aliases") == []
    stored = json.dumps([list(map(str, r)) for r in _rows(guard, "SELECT * FROM audit_records")])
    assert "ann@example.com" not in stored
    assert _verify(guard).ok
    # An alias erased by its own name loses its link; a customer known only by links can be erased.
    _link(api, "cust-7", "email:jo@example.com")
    assert erase_customer(guard.db, "email:jo@example.com")["aliases_unlinked"] == ["cust-7"]
    assert _rows(guard, "SELECT * FROM customer_aliases") == []
    assert _verify(guard).ok


def test_links_in_place_outlive_a_purge_of_their_records(api, guard):
    _link(api, CRM, SHOP, HELPDESK)
    api.request("DELETE", f"/v1/customers/{CRM}/aliases/{HELPDESK}")
    purge(guard.db, utcnow().replace(year=utcnow().year + 1))
    assert _verify(guard).ok, _verify(guard).problems
    assert [a["alias"] for a in api.get(f"/v1/customers/{CRM}/aliases").get_json()["aliases"]] == [SHOP]


def test_decision_answers_are_unchanged_for_customers_without_links(api):
    assert api.decide(**decision_body("lonely"))["outcome"] == "allow"
