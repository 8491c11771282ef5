"""The console through Flask's test client: sign-in and sessions, CSRF, every page, and the rule workflow."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from guard.app import Guard
from guard.auth.keys import create_key, revoke_key
from guard.core.config import Settings
from guard.decisions.service import decide_batch
from guard.lifecycle.jobs import start_job
from guard.lifecycle.versions import active_activation
from guard.server.serve import with_secret
from guard.situation.aliases import link
from guard.situation.events import ingest_batch
from guard.storage.tables.auth import ApiKey
from guard.web.factory import create_app
from tests.conftest import event
from tests.web.console.conftest import Browser

SEND_AT = "2026-03-04T10:00:00Z"


def _decide(guard: Guard, *requests: dict) -> list[dict]:
    answers = decide_batch(guard.db, guard.evaluator, list(requests), "marketing-tool")
    assert all("error" not in a for a in answers), answers
    return answers


def _message(customer: str, **fields) -> dict:
    return {"customer_id": customer, "channel": "email", "purpose": "marketing", "send_at": SEND_AT, **fields}


@pytest.fixture
def history(console_guard: Guard) -> dict[str, dict]:
    """A complaint, a purchase and a few decisions about them."""
    ingest_batch(console_guard.db, [
        event("cust-42", "complaint.opened", "2026-03-01T09:30:00Z", case_id="CASE-4711"),
        event("cust-7", "purchase.completed", "2026-03-02T18:00:00Z", order_id="ORD-981",
              product_ids=["espresso-pro"]),
    ])
    care, bought, fine = _decide(
        console_guard,
        _message("cust-42", campaign_id="spring-sale"),
        _message("cust-7", campaign_id="spring-sale", product_ids=["espresso-pro"]),
        _message("cust-7", campaign_id="newsletter", product_ids=["milk-frother"]),
    )
    return {"care": care, "bought": bought, "fine": fine}


# --- sign-in and sessions --------------------------------------------------------------------------------


def test_pages_need_a_session_and_home_leads_to_the_console(browser: Browser):
    assert browser.get("/").location == "/console/"
    response = browser.get("/console/decisions?outcome=block")
    assert response.status_code == 302
    assert response.location == "/console/signin?next=/console/decisions?outcome%3Dblock"


def test_every_page_links_the_api_reference(browser: Browser, reader: Browser):
    for page in (browser.get("/console/signin"), reader.get("/console/"), reader.get("/console/rules")):
        footer = page.get_data(as_text=True).split('<footer class="foot">', 1)[1].split("</footer>", 1)[0]
        assert '<a href="/docs">API reference</a>' in footer and 'href="/openapi.json"' in footer
    assert browser.get("/docs").status_code == 200  # and the reference needs no sign-in


def test_sign_in_with_a_read_key_sets_a_strict_cookie_holding_only_the_key_id(
        browser: Browser, key_for: Callable[..., str], console_guard: Guard):
    token = key_for("read", name="rita")
    response = browser.sign_in(token)
    assert response.status_code == 302 and response.location == "/console/"
    cookie = response.headers["Set-Cookie"]
    assert "guard_console=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    with browser.client.session_transaction("/console/") as session:
        with console_guard.db.sessions() as db_session:
            key_id = db_session.scalars(select(ApiKey.id).where(ApiKey.name == "rita")).one()
        assert session["key_id"] == key_id
        assert token not in str(dict(session))
    page = browser.get("/console/")
    assert page.status_code == 200 and "rita" in page.get_data(as_text=True)


def test_the_cookie_is_secure_when_configured(console_guard: Guard, key_for: Callable[..., str]):
    import dataclasses

    secure = Guard(dataclasses.replace(console_guard.settings, cookie_secure=True), db=console_guard.db,
                   rules=console_guard.rules)
    app = create_app(secure)
    browser = Browser(app.test_client())
    assert "Secure" in browser.sign_in(key_for("read")).headers["Set-Cookie"]


@pytest.mark.parametrize(("scopes", "message"), [
    ((), "not valid"),
    (("decide",), "may not read the audit log"),
])
def test_keys_that_cannot_read_are_refused(browser: Browser, key_for: Callable[..., str], scopes, message):
    token = key_for(*scopes) if scopes else "gk_not-a-key"
    response = browser.sign_in(token)
    assert response.status_code == 401
    assert message in response.get_data(as_text=True)
    assert browser.get("/console/").status_code == 302


def test_sign_in_follows_next_only_within_the_console(browser: Browser, key_for: Callable[..., str]):
    browser.get("/console/signin?next=/console/rules")
    assert browser.post("/console/signin?next=/console/rules", {"key": key_for("read")}).location == \
        "/console/rules"
    other = Browser(browser.client.application.test_client())
    other.get("/console/signin")
    assert other.post("/console/signin?next=https://evil.example/", {"key": key_for("read")}).location == \
        "/console/"


def test_forms_without_the_csrf_token_are_refused(browser: Browser, admin: Browser, key_for: Callable[..., str]):
    browser.get("/console/signin")
    refused = browser.post("/console/signin", {"key": key_for("read")}, csrf=False)
    assert refused.status_code == 400 and "The form expired" in refused.get_data(as_text=True)
    admin.get("/console/rules")
    assert admin.post("/console/rules/rollback", {"message": "x", "csrf_token": "forged"}, csrf=False
                      ).status_code == 400
    assert admin.post("/console/signout", csrf=False).status_code == 400
    assert admin.get("/console/").status_code == 200  # still signed in


def test_over_https_forms_need_a_same_site_referer_which_pages_allow(console_app: Flask,
                                                                      key_for: Callable[..., str]):
    browser = Browser(console_app.test_client())
    page = browser.client.get("/console/signin", base_url="https://guard.example")
    assert page.headers["Referrer-Policy"] == "same-origin" and page.headers["Cache-Control"] == "no-store"
    browser.last = page
    form = {"key": key_for("read"), "csrf_token": browser.token()}
    foreign = browser.client.post("/console/signin", data=form, base_url="https://guard.example",
                                  headers={"Referer": "https://evil.example/"})
    assert foreign.status_code == 400
    same = browser.client.post("/console/signin", data=form, base_url="https://guard.example",
                               headers={"Referer": "https://guard.example/console/signin"})
    assert same.status_code == 302


def test_a_revoked_key_is_signed_out_at_its_next_page(reader: Browser, console_guard: Guard):
    assert reader.get("/console/").status_code == 200
    with console_guard.db.transaction() as session:
        key = session.scalars(select(ApiKey).where(ApiKey.name == "rita")).one()
        revoke_key(session, key.id)
    assert reader.get("/console/").location.startswith("/console/signin")
    with reader.client.session_transaction("/console/") as session:
        assert "key_id" not in session


def test_sign_out_ends_the_session(reader: Browser):
    reader.get("/console/")
    response = reader.post("/console/signout")
    assert response.location == "/console/signin"
    assert reader.get("/console/decisions").status_code == 302


def test_without_a_configured_secret_each_app_makes_its_own(console_guard: Guard):
    import dataclasses

    bare = Guard(dataclasses.replace(console_guard.settings, secret_key=None), db=console_guard.db,
                 rules=console_guard.rules)
    first, second = create_app(bare), create_app(bare)
    assert first.secret_key and second.secret_key and first.secret_key != second.secret_key
    assert create_app(console_guard).secret_key == "test-secret"


# --- review pages --------------------------------------------------------------------------------------------


def test_overview_draws_outcomes_rules_and_top_campaigns(reader: Browser, history):
    for period in ("24h", "7d", "30d", "bogus"):
        page = reader.get(f"/console/?period={period}")
        assert page.status_code == 200
    text = reader.get("/console/?period=24h").get_data(as_text=True)
    assert text.count("<svg class=\"chart chart-wide\"") == 2 and text.count("chart-narrow") == 2
    assert "<rect" in text and "reroute: 1" in text and "just-bought" in text
    assert re.search(r"spring-sale</a></td>\s*<td data-label=\"Blocked\" class=\"num\">1</td>\s*"
                     r"<td data-label=\"Rerouted\" class=\"num\">1</td>", text)
    assert "newsletter" not in text.split("Campaigns Guard stopped most")[1]


def test_decisions_filter_and_page(reader: Browser, history, console_guard: Guard):
    text = reader.get("/console/decisions").get_data(as_text=True)
    assert all(history[k]["decision_id"] in text for k in history)
    text = reader.get("/console/decisions?outcome=reroute&campaign_id=&rule_id=care-first").get_data(as_text=True)
    assert history["care"]["decision_id"] in text and history["bought"]["decision_id"] not in text
    text = reader.get("/console/decisions?customer_id=cust-7&since=2000-01-01T00:00").get_data(as_text=True)
    assert history["bought"]["decision_id"] in text and history["care"]["decision_id"] not in text
    assert "No decision matches" in reader.get("/console/decisions?since=2100-01-01T00:00").get_data(as_text=True)
    bad = reader.get("/console/decisions?outcome=maybe&since=yesterday")
    assert bad.status_code == 422 and "outcome" in bad.get_data(as_text=True)
    _decide(console_guard, *[_message(f"many-{i}", purpose="transactional") for i in range(55)])
    first = reader.get("/console/decisions?purpose=transactional").get_data(as_text=True)
    assert first.count('class="explain"') == 50
    older = re.search(r'href="([^"]+)">Older', first)
    assert older
    second = reader.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('class="explain"') == 5 and "Newest" in second


def test_a_decision_opens_to_its_full_explanation(reader: Browser, history):
    text = reader.get(f"/console/decisions/{history['care']['decision_id']}").get_data(as_text=True)
    assert "winning rule" in text and "care-first" in text
    assert "Complaint CASE-4711 has been open for 3 days" in text
    assert 'href="/console/rules/versions/1"' in text  # the rules version that decided
    assert "spring-sale" in text and "cust-42" in text and "marketing-tool" in text
    # The facts the rules saw, as a person reads them; the engine's form stays behind "All facts as recorded".
    seen = text.split('id="seen"')[1].split("All facts as recorded")[0]
    assert "<dd>10:00 (UTC), Wednesday</dd>" in seen and "<dd>spring-sale</dd>" in seen
    assert "local_minutes" not in seen and "&#34;" not in seen and "_count" not in seen
    assert "Open complaint case" in seen and "care-first, no-survey-during-complaint" in seen
    assert "Open refund case, age ≥ 14 days" in seen
    assert "<td data-label=\"Within\" class=\"nowrap\">7 days</td>" in seen
    assert "Events of type purchase.completed, where product_ids shares an item with message.product_ids" in seen
    assert '"local_minutes": 600' in text  # the recorded document, unchanged
    fine = reader.get(f"/console/decisions/{history['fine']['decision_id']}").get_data(as_text=True)
    assert "No rule matched" in fine
    assert reader.get("/console/decisions/nope").status_code == 404


def test_customer_page_shows_situation_and_timeline_newest_first(reader: Browser, history):
    text = reader.get("/console/customers/cust-42").get_data(as_text=True)
    assert "CASE-4711" in text and re.search(r"open for <b>\d+ days</b>", text)
    timeline = text.split("Timeline")[1]
    assert timeline.index("decision") < timeline.index("complaint.opened")  # the decision came later
    seven = reader.get("/console/customers/cust-7").get_data(as_text=True)
    assert "ORD-981" in seven and "espresso-pro" in seven
    assert reader.get("/console/customers?customer_id=cust-7").location == "/console/customers/cust-7"
    assert reader.get("/console/customers/nobody").status_code == 404


def test_customer_page_gathers_every_name_of_a_linked_customer(reader: Browser, history, console_guard: Guard):
    ingest_batch(console_guard.db, [event("helpdesk:381626", "complaint.opened", "2026-03-03T09:00:00Z",
                                          case_id="ZD-381")])
    with console_guard.db.transaction() as session:
        link(session, "cust-7", ["helpdesk:381626", "email:ann@example.com"])
    for name in ("cust-7", "helpdesk:381626"):
        text = reader.get(f"/console/customers/{name}").get_data(as_text=True)
        assert "ORD-981" in text and "ZD-381" in text, name  # the shop's purchase and the helpdesk's complaint
        assert "Also known as" in text and "email:ann@example.com" in text
    assert 'An alias of <a class="mono" href="/console/customers/cust-7">' in reader.get(
        "/console/customers/helpdesk:381626").get_data(as_text=True)


def test_console_export_downloads_the_current_filter(reader: Browser, history):
    page = reader.get("/console/decisions?campaign_id=spring-sale").get_data(as_text=True)
    link = re.search(r'href="([^"]+)">Download CSV', page)
    assert link
    response = reader.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["decision_id"] for r in rows} == {history["care"]["decision_id"], history["bought"]["decision_id"]}
    assert reader.get("/console/decisions/export?format=xml").status_code == 422


# --- rules ---------------------------------------------------------------------------------------------------


def test_a_read_key_sees_the_history_but_cannot_reach_editing(reader: Browser):
    text = reader.get("/console/rules").get_data(as_text=True)
    assert "Active version" in text and "v1" in text and "Edit</a>" not in text
    assert reader.get("/console/rules/versions/1").status_code == 200
    assert reader.get("/console/rules/versions/1/files/care.yaml").status_code == 200
    for path in ("/console/rules/edit/care.yaml", "/console/rules/new?name=x"):
        refused = reader.get(path)
        assert refused.status_code == 403 and "admin" in refused.get_data(as_text=True)
    reader.get("/console/rules")
    assert reader.post("/console/rules/rollback", {"message": "no"}).status_code == 403
    assert reader.post("/console/rules/versions/1/activate", {"message": "no"}).status_code == 403


BROKEN_LINE = "      - message.chanel: sms"


def _edited(admin: Browser, name: str = "care.yaml") -> str:
    page = admin.get(f"/console/rules/edit/{name}").get_data(as_text=True)
    return re.search(r"<textarea[^>]*>\n(.*?)</textarea>", page, re.S).group(1).replace("&#34;", '"') \
        .replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_validation_errors_are_shown_at_their_line(admin: Browser):
    text = _edited(admin)
    lines = text.split("\n")
    lines.insert(9, BROKEN_LINE)  # into care-first's `when`
    response = admin.post("/console/rules/edit/care.yaml", {"text": "\r\n".join(lines), "check": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "1 error(s)" in page
    assert re.search(r'<tr id="L10" class="error-line">', page)
    assert "unknown field &#39;message.chanel&#39; (did you mean &#39;message.channel&#39;?)" in page
    assert 'href="#L10" data-line="10">care.yaml:10:9</a>' in page
    assert 'data-error-line="10"' in page and '<span id="G10" class="g-error">10</span>' in page
    valid = admin.post("/console/rules/edit/care.yaml", {"text": text, "check": "1"})
    assert valid.status_code == 200 and "Valid" in valid.get_data(as_text=True)


def test_rule_tests_run_on_the_whole_would_be_version(admin: Browser):
    text = _edited(admin)
    passed = admin.post("/console/rules/edit/care.yaml", {"text": text, "test": "1"}).get_data(as_text=True)
    assert "rule tests passed" in passed and "PASS" in passed and "respect.yaml" in passed
    failing = text.replace("expect: {outcome: reroute, route: care, rule_id: care-first}",
                           "expect: {outcome: block}", 1)
    response = admin.post("/console/rules/edit/care.yaml", {"text": failing, "test": "1"})
    assert response.status_code == 422 and "1 rule test(s) failed" in response.get_data(as_text=True)


def test_edit_save_backtest_activate_and_roll_back(admin: Browser, history, console_guard: Guard):
    text = _edited(admin, "commerce.yaml")
    extra = ("\n  - id: no-spring\n    description: The spring sale is over.\n    priority: 5\n    when:\n"
             "      - message.purpose: marketing\n      - message.campaign_id: spring-sale\n"
             "    outcome: block\n    explanation: The spring sale is over.\n")
    edited = text.replace("\ntests:", extra + "\ntests:", 1) if "\ntests:" in text else text + extra
    report = admin.post("/console/rules/edit/commerce.yaml", {"text": edited, "backtest": "1",
                                                               "since": "2026-03-01T00:00", "until": ""})
    page = report.get_data(as_text=True)
    assert report.status_code == 200 and "Backtest report" in page
    assert "<b>1</b> of <b>3</b> recorded decisions would change" in page  # cust-42: reroute → block
    missing = admin.post("/console/rules/edit/commerce.yaml", {"text": edited, "save": "1", "message": ""})
    assert missing.status_code == 422 and "Say why" in missing.get_data(as_text=True)
    saved = admin.post("/console/rules/edit/commerce.yaml", {"text": edited, "save": "1",
                                                              "message": "spring is over"})
    assert saved.status_code == 302 and saved.location == "/console/rules/versions/2"
    version = admin.get("/console/rules/versions/2").get_data(as_text=True)
    assert "spring is over" in version and "alice" in version and "Activate v2" in version
    bt = admin.post("/console/rules/versions/2/backtest", {"since": "", "until": ""})
    assert bt.status_code == 200 and "Backtest of version 2" in bt.get_data(as_text=True)
    admin.get("/console/rules/versions/2")
    activated = admin.post("/console/rules/versions/2/activate", {"message": "go"})
    assert activated.location == "/console/rules"
    rules = admin.get("/console/rules").get_data(as_text=True)
    assert "Version 2 is active (it was 1)" in rules and "+  - id: no-spring" in rules.replace("&#43;", "+")
    with console_guard.db.sessions() as session:
        assert active_activation(session).version == 2
    admin.post("/console/rules/rollback", {"message": "too early"})
    after = admin.get("/console/rules").get_data(as_text=True)
    assert "Rolled back: version 1 is active again (was 2)" in after
    with console_guard.db.sessions() as session:
        row = active_activation(session)
        assert (row.version, row.kind, row.actor, row.message) == (1, "rollback", "alice", "too early")


NO_SPRING = ("\n  - id: no-spring\n    description: The spring sale is over.\n    priority: 5\n    when:\n"
             "      - message.purpose: marketing\n      - message.campaign_id: spring-sale\n"
             "    outcome: block\n    explanation: The spring sale is over.\n")


def test_a_version_shows_its_diff_and_backtest_before_activation(admin: Browser, history, console_guard: Guard):
    edited = _edited(admin, "commerce.yaml").replace("\ntests:", NO_SPRING + "\ntests:", 1)
    admin.post("/console/rules/edit/commerce.yaml", {"text": edited, "save": "1", "message": "spring is over"})
    page = admin.get("/console/rules/versions/2").get_data(as_text=True)
    diff = page.split('id="diff"')[1].split("</section>")[0].replace("&#43;", "+")
    assert "Changes against the active version v1" in diff and "+  - id: no-spring" in diff
    assert "Never backtested" in page and "Run a backtest" in page and 'name="unbacktested"' in page
    assert page.index('id="latest-backtest"') < page.index('id="activate"')  # read before you activate
    refused = admin.post("/console/rules/versions/2/activate", {"message": "go"})
    assert refused.location == "/console/rules/versions/2"
    assert "never backtested" in admin.get("/console/rules/versions/2").get_data(as_text=True)
    with console_guard.db.sessions() as session:
        assert active_activation(session).version == 1

    admin.post("/console/rules/versions/2/backtest", {"since": "2026-03-01 00:00", "until": ""})
    page = admin.get("/console/rules/versions/2").get_data(as_text=True)
    latest = page.split('id="latest-backtest"')[1].split("</section>")[0]
    assert "<b>1</b> of <b>3</b> recorded decisions would change" in latest and "2026-03-01 00:00:00 UTC" in latest
    assert "Never backtested" not in page and 'name="unbacktested"' not in page
    assert admin.post("/console/rules/versions/2/activate", {"message": "go"}).location == "/console/rules"
    with console_guard.db.sessions() as session:
        assert active_activation(session).version == 2


def test_activating_a_version_never_backtested_takes_a_confirmation(admin: Browser, console_guard: Guard):
    edited = _edited(admin, "commerce.yaml").replace("\ntests:", NO_SPRING + "\ntests:", 1)
    admin.post("/console/rules/edit/commerce.yaml", {"text": edited, "save": "1", "message": "spring is over"})
    admin.get("/console/rules/versions/2")
    done = admin.post("/console/rules/versions/2/activate", {"message": "urgent", "unbacktested": "y"})
    assert done.location == "/console/rules"
    with console_guard.db.sessions() as session:
        assert active_activation(session).version == 2


def test_a_failed_save_keeps_the_text_and_says_why_plainly(admin: Browser, console_guard: Guard):
    text = _edited(admin)
    failing = text.replace("expect: {outcome: reroute, route: care, rule_id: care-first}",
                           "expect: {outcome: block}", 1)
    response = admin.post("/console/rules/edit/care.yaml", {"text": failing, "save": "1", "message": "try"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="not-saved">Not saved: 1 rule test failed \([^)]+, care\.yaml:\d+\)\.', page), page
    assert "expect: {outcome: block}" in _textarea(page)
    with console_guard.db.sessions() as session:
        assert active_activation(session).version == 1


def test_saving_an_invalid_file_names_the_first_error_and_keeps_the_text(admin: Browser):
    lines = _edited(admin).split("\n")
    lines.insert(9, BROKEN_LINE)
    response = admin.post("/console/rules/edit/care.yaml", {"text": "\n".join(lines), "save": "1", "message": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Not saved: 1 error (care.yaml:10: unknown field &#39;message.chanel&#39;" in page
    assert BROKEN_LINE in _textarea(page)


def test_time_filters_are_24_hour_utc_text_and_errors_show_the_form(reader: Browser, history):
    now = datetime.now(UTC)
    hour = (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"), (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    page = reader.get(f"/console/decisions?since={hour[0]}&until={hour[1]}").get_data(as_text=True)
    assert page.count('class="explain"') == 3 and 'type="datetime-local"' not in page
    assert 'placeholder="2026-03-04 22:00"' in page
    assert reader.get(f"/console/decisions?since={hour[1]}").get_data(as_text=True).count('class="explain"') == 0
    bad = reader.get("/console/decisions?since=04/03/2026 10:00")
    assert bad.status_code == 422 and "YYYY-MM-DD HH:MM, e.g. 2026-03-04 22:00" in bad.get_data(as_text=True)


def test_the_decisions_list_shows_both_times_and_the_winning_explanation(reader: Browser, history):
    page = reader.get("/console/decisions?customer_id=cust-42").get_data(as_text=True)
    assert "<th>Send at</th><th>Decided at</th>" in page
    row = page.split("<tbody>")[1]
    assert "2026-03-04 10:00:00 UTC" in row  # the send time next to the decided time (today)
    assert "care-first" in row and "Complaint CASE-4711 has been open for 3 days" in row


def _textarea(page: str) -> str:
    return re.search(r"<textarea[^>]*>\n(.*?)</textarea>", page, re.S).group(1).replace("&#34;", '"') \
        .replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_a_new_file_starts_from_a_template(admin: Browser):
    assert admin.get("/console/rules/new?name=offers").location == "/console/rules/edit/offers.yaml"
    text = _edited(admin, "offers.yaml")
    assert "id: my-rule" in text
    assert admin.get("/console/rules/edit/..%2Fetc").status_code == 404


def test_unknown_versions_and_files_are_404_pages(reader: Browser):
    assert reader.get("/console/rules/versions/99").status_code == 404
    missing = reader.get("/console/rules/versions/1/files/none.yaml")
    assert missing.status_code == 404 and "<html" in missing.get_data(as_text=True)


def test_the_api_is_untouched_by_the_console(console_app: Flask, key_for: Callable[..., str]):
    client = console_app.test_client()
    answer = client.post("/v1/decisions", json=_message("api-1"),
                         headers={"Authorization": f"Bearer {key_for('decide')}"})
    assert answer.status_code == 200  # no CSRF token needed for bearer-key calls
    assert "Set-Cookie" not in answer.headers


def test_a_background_backtest_shows_its_progress_then_its_report(committed_console: Guard):
    _decide(committed_console, _message("bg-1", campaign_id="spring-sale"), _message("bg-2"))
    with committed_console.db.transaction() as session:
        _, token = create_key(session, "alice", ["admin"])
    browser = Browser(create_app(committed_console).test_client())
    browser.sign_in(token)
    job = start_job(committed_console.db, committed_console.rules.version(1), None, None, {"version": 1})
    deadline = time.monotonic() + 20
    while True:
        page = browser.get(f"/console/rules/backtests/{job['job_id']}").get_data(as_text=True)
        if "Backtest report" in page or time.monotonic() > deadline:
            break
        assert 'http-equiv="refresh"' in page  # a running job's page reloads itself
        time.sleep(0.1)
    assert "<b>done</b>" in page and "<b>0</b> of <b>2</b> recorded decisions would change" in page
    assert 'http-equiv="refresh"' not in page
    assert browser.get("/console/rules/backtests/nope").status_code == 404


def test_guard_serve_makes_one_secret_for_all_its_workers():
    made = with_secret(Settings())
    assert made.secret_key and len(made.secret_key) >= 32
    assert with_secret(made) is made
    assert with_secret(Settings(secret_key="configured")).secret_key == "configured"


def test_api_requests_neither_read_nor_set_the_console_cookie(browser: Browser, key_for: Callable[..., str]):
    browser.sign_in(key_for("read", name="cookie-holder"))
    token = key_for("read", name="api-caller")
    answer = browser.client.get("/v1/decisions", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    assert browser.get("/console/").status_code == 200  # the console session is untouched


def test_the_decisions_list_and_the_overview_say_as_of_when(console_guard, key_for):
    from guard.decisions.projector import catch_up
    from guard.decisions.service import decide
    from guard.web.factory import create_app
    from tests.web.console.conftest import Browser

    app = create_app(console_guard)  # no catch-up before reads: the projector runs only when told here
    app.testing = True
    reader = Browser(app.test_client())
    assert reader.sign_in(key_for("read", name="rita")).status_code == 302
    decide(console_guard.db, console_guard.evaluator, {"customer_id": "asof-1", "channel": "email",
                                                        "purpose": "marketing"})
    for path in ("/console/decisions", "/console"):
        page = reader.get(path).get_data(as_text=True)
        assert re.search(r"As of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(1 newer decision, up to [\d.]+ s old, "
                         r"not counted yet\)\.", page), page
    catch_up(console_guard.db)
    for path in ("/console/decisions", "/console"):
        page = reader.get(path).get_data(as_text=True)
        assert re.search(r"As of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", page), page
