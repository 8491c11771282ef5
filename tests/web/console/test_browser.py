"""The console in a real browser: headless Chromium (Debian's, driven by Playwright) against a real `guard serve`
with two workers. Every page is photographed at 1280 and 390 px wide into screenshots/ (git-ignored)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from guard.auth.keys import create_key
from guard.storage.database import Database
from tests.conftest import ROOT, RULES_DIR, fresh_postgres_database, wait_until_up

# GUARD_TEST_CHROMIUM points elsewhere (tests/web/console/test_skip_notice.py uses it to see the skip notice).
CHROMIUM = Path(os.environ.get("GUARD_TEST_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                      "(apt-get install chromium chromium-driver; .ci/run does)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _guard_command() -> list[str]:
    script = Path(sys.executable).parent / "guard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "guard.cli"]


@contextmanager
def _serving(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """`guard serve` with two workers on a free port, until it answers /healthz; SIGTERM afterwards."""
    port = _free_port()
    log_path = cwd / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([*_guard_command(), "serve", "--port", str(port), "--workers", "2"], env=env,
                                cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, proc, log_path)
            yield base
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, db_url: str) -> Iterator[str]:
    """A database of the module's own: a SQLite file, or a fresh PostgreSQL database when the suite runs there."""
    if db_url.startswith("postgresql"):
        with fresh_postgres_database(db_url) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"


@pytest.fixture(scope="module")
def served(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running Guard with history to review, and keys: admin (alice), read (rita), and one to feed it."""
    env = {**os.environ, "GUARD_DATABASE_URL": server_url, "GUARD_RULES_DIR": str(RULES_DIR),
           "GUARD_LOG_LEVEL": "WARNING"}
    env.pop("GUARD_SECRET_KEY", None)  # the master makes one that both workers share
    with _serving(env, tmp_path_factory.mktemp("serve")) as base:
        db = Database(server_url)
        with db.transaction() as session:
            keys = {name: create_key(session, name, scopes)[1] for name, scopes in
                    (("alice", ["admin"]), ("rita", ["read"]), ("crm", ["decide", "events"]))}
        db.dispose()
        _feed(base, keys["crm"])
        yield {"base": base, **keys}


def _feed(base: str, key: str) -> None:
    """Events and decisions through the API, as a CRM and a marketing tool would send them."""
    auth = {"Authorization": f"Bearer {key}"}
    now = datetime.now(UTC)
    events = [
        {"event_id": "hd-4711", "customer_id": "cust-42", "type": "complaint.opened",
         "occurred_at": (now - timedelta(days=3)).isoformat(), "data": {"case_id": "CASE-4711"}},
        {"event_id": "shop-981", "customer_id": "cust-7", "type": "purchase.completed",
         "occurred_at": (now - timedelta(days=2)).isoformat(),
         "data": {"order_id": "ORD-981", "product_ids": ["espresso-pro"]}},
        {"event_id": "pay-55", "customer_id": "cust-9", "type": "refund.requested",
         "occurred_at": (now - timedelta(days=1)).isoformat(), "data": {"refund_id": "RF-55"}},
        # A long-standing customer in Berlin with a complaint and a refund: the refund's block wins, the
        # complaint's reroute to care-priority loses.
        {"event_id": "crm-13", "customer_id": "cust-13", "type": "profile.updated",
         "occurred_at": (now - timedelta(days=40)).isoformat(),
         "data": {"customer_since": "2019-05-01", "timezone": "Europe/Berlin"}},
        {"event_id": "hd-13", "customer_id": "cust-13", "type": "complaint.opened",
         "occurred_at": (now - timedelta(days=5)).isoformat(), "data": {"case_id": "CASE-13"}},
        {"event_id": "pay-13", "customer_id": "cust-13", "type": "refund.requested",
         "occurred_at": (now - timedelta(days=2)).isoformat(), "data": {"refund_id": "RF-13"}},
    ]
    assert requests.post(f"{base}/v1/events", json={"events": events}, headers=auth, timeout=10).status_code == 200
    sends = [("cust-42", "spring-sale", []), ("cust-7", "spring-sale", ["espresso-pro"]),
             ("cust-9", "spring-sale", []), ("cust-7", "newsletter", ["milk-frother"]),
             ("cust-11", "newsletter", []), ("cust-42", "newsletter", []), ("cust-13", "autumn-sale", [])]
    for customer, campaign, products in sends:
        body = {"customer_id": customer, "channel": "email", "purpose": "marketing", "campaign_id": campaign,
                "product_ids": products}
        answer = requests.post(f"{base}/v1/decisions", json=body, headers=auth, timeout=10)
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless; Playwright only drives it (no browser of its own is downloaded)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) with a desktop-sized page."""
    context = chromium.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def shoot(page: Any, name: str) -> None:
    """The current page at 1280 and at 390 px wide, whole length; back to desktop width afterwards."""
    SHOTS.mkdir(exist_ok=True)
    for label, width in (("1280", WIDTHS["desktop"]), ("390", WIDTHS["phone"])):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        if width == WIDTHS["phone"]:
            # Nothing may stick out sideways on a phone except inside the horizontally scrolling boxes.
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{name}: the page is {overflow} px wider than a 390 px screen"
            # Tables a reviewer reads stack their rows on a phone: every cell on screen, no sideways scrolling.
            wide = page.evaluate("[...document.querySelectorAll('table.stack')].filter(t => t.scrollWidth >"
                                 " t.parentElement.clientWidth + 1 || t.getBoundingClientRect().right > innerWidth)"
                                 ".map(t => t.className)")
            assert not wide, f"{name}: tables wider than a 390 px screen: {wide}"
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/console/")
    assert "/console/signin" in page.url
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def test_review_a_decision_and_a_customer(page: Any, served: dict[str, str]):
    base = served["base"]
    page.goto(f"{base}/console/signin")
    shoot(page, "01-signin")
    page.fill("#key", "gk_wrong")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text(".field-error")
    sign_in(page, base, served["rita"])
    assert page.locator("svg.chart rect").count() > 0
    assert "spring-sale" in page.inner_text("table.data")
    shoot(page, "02-overview")

    page.click("nav.nav >> text=Decisions")
    page.select_option("select[name=outcome]", "reroute")
    page.fill("input[name=campaign_id]", "spring-sale")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**outcome=reroute**")
    rows = page.locator("table.decisions tbody tr")
    assert rows.count() == 1 and "cust-42" in rows.first.inner_text()
    shoot(page, "03-decisions-filtered")
    with page.expect_download() as download:
        page.click("text=Download CSV")
    assert download.value.suggested_filename.endswith(".csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 2 and "cust-42" in lines[1] and "care-first" in lines[1]

    # Both times, labelled, and the winning rule's explanation in the list.
    assert "SEND AT" in page.inner_text("table.decisions").upper() and "DECIDED AT" in page.inner_text(
        "table.decisions").upper()
    assert "has been open for 3 days" in rows.first.locator("td.why").inner_text()
    assert page.evaluate("document.querySelector('input[name=since]').type") == "text"
    assert not page.evaluate("(() => { const i = document.querySelector('input[name=since]');"
                             " i.value = '04/03/2026 10:00'; return i.checkValidity(); })()")
    assert page.evaluate("(() => { const i = document.querySelector('input[name=since]');"
                         " i.value = '2026-03-04 22:00'; return i.checkValidity(); })()")
    page.fill("input[name=since]", "")

    rows.first.locator("a.explain").click()
    page.wait_for_url("**/console/decisions/*")
    winner = page.locator(".reason.winner")
    assert "care-first" in winner.inner_text() and "winning rule" in winner.inner_text()
    assert "Complaint CASE-4711 has been open for 3 days" in winner.inner_text()
    assert "v1" in page.inner_text("dl.facts")
    seen = page.inner_text("#seen")
    assert "Open complaint case" in seen and "care-first" in seen and "local_minutes" not in seen
    assert '"' not in seen.split("History the rules asked about")[0]  # plain strings, no JSON quotes

    page.goto(f"{base}/console/decisions?customer_id=cust-13")
    page.locator("table.decisions a.explain").first.click()
    page.wait_for_url("**/console/decisions/*")
    assert "refund-pending" in page.inner_text(".reason.winner")
    loser = page.locator(".reason:has-text('care-first')")
    assert "to care-priority" in loser.inner_text()  # the route of a rule that matched but lost
    seen = page.locator("#seen dl.facts").inner_text()
    assert "(Europe/Berlin)," in seen and "day" in seen.split("(Europe/Berlin),")[1].split("\n")[0]
    assert "7 years" in seen or "6 years" in seen
    shoot(page, "04-decision")

    page.goto(f"{base}/console/customers/cust-42")
    assert "CASE-4711" in page.inner_text(".situation")
    items = page.locator("ol.timeline > li")
    assert items.count() == 3 and "decision" in items.first.inner_text()  # newest first
    assert "complaint.opened" in items.last.inner_text()
    shoot(page, "05-customer")

    page.goto(f"{base}/console/rules")
    assert page.locator("a:text-is('Edit')").count() == 0
    shoot(page, "06-rules-read-only")
    page.goto(f"{base}/console/rules/edit/care.yaml")
    assert "Not allowed" in page.inner_text("h1") and "admin" in page.inner_text("main")
    shoot(page, "07-forbidden")
    page.click("#signout")
    page.wait_for_url("**/console/signin")


BROKEN = "      - message.chanel: sms"
NO_SPRING = """
  - id: no-spring
    description: The spring sale is over; nobody gets it any more.
    priority: 5
    when:
      - message.purpose: marketing
      - message.campaign_id: spring-sale
    outcome: block
    explanation: The spring sale is over.
"""


def test_edit_backtest_activate_and_roll_back(page: Any, served: dict[str, str]):
    base = served["base"]
    sign_in(page, base, served["alice"])
    page.click("nav.nav >> text=Rules")
    page.click("tr:has-text('care.yaml') >> text=Edit")
    page.wait_for_url("**/console/rules/edit/care.yaml")
    original = page.input_value("#text")
    lines = original.split("\n")
    lines.insert(9, BROKEN)
    page.fill("#text", "\n".join(lines))
    page.click("button[name=check]")
    flagged = page.locator("tr.error-line")
    assert flagged.count() == 1 and flagged.get_attribute("id") == "L10"
    assert "message.chanel" in flagged.inner_text()
    assert "did you mean 'message.channel'" in page.inner_text("tr.problem")
    # The editor numbers its lines, marks the error's and jumps there from the problem list.
    assert page.locator("#gutter span").count() == len(lines)
    assert page.locator("#gutter span.g-error").inner_text() == "10"
    page.click("#validation ul.problems a[data-line='10']")
    assert page.evaluate("document.activeElement.id") == "text"
    assert page.evaluate("(() => { const t = document.getElementById('text');"
                         " return t.value.slice(0, t.selectionStart).split('\\n').length; })()") == 10
    assert page.evaluate("document.querySelector('#text').value.slice(document.querySelector('#text').selectionStart,"
                         " document.querySelector('#text').selectionEnd)") == BROKEN
    assert "g-current" in (page.locator("#G10").get_attribute("class") or "")
    shoot(page, "08-edit-error")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    assert page.locator("#gutter span").count() == len(lines) + 1  # the gutter follows the text

    page.goto(f"{base}/console/rules/edit/commerce.yaml")
    failing = page.input_value("#text").replace("expect: {outcome: block, rule_id: just-bought}",
                                                "expect: {outcome: allow}", 1)
    page.fill("#text", failing)
    page.fill("#message", "try it")
    page.click("button[name=save]")
    assert page.inner_text("#not-saved").startswith("Not saved: 1 rule test failed (")
    assert page.input_value("#text") == failing  # nothing typed is lost

    page.goto(f"{base}/console/rules/edit/commerce.yaml")
    text = page.input_value("#text")
    page.fill("#text", text.replace("\ntests:", NO_SPRING + "\ntests:", 1))
    page.click("button[name=test]")
    assert "rule tests passed" in page.inner_text("#tests h2")
    page.click("button[name=backtest]")
    report = page.locator("#report")
    assert "would change" in report.inner_text()
    assert "no-spring" in report.inner_text()
    shoot(page, "09-backtest")

    page.fill("#message", "The spring sale is over")
    page.click("button[name=save]")
    page.wait_for_url("**/console/rules/versions/2")
    diff = page.inner_text("#diff")
    assert "no-spring" in diff and "Changes against the active version v1" in diff
    assert "Never backtested" in page.inner_text("#latest-backtest")
    page.fill("#activate-message", "spring is over")
    page.click("#activate button[type=submit]")  # not backtested and not confirmed: refused
    page.wait_for_url("**/console/rules/versions/2")
    assert "never backtested" in page.inner_text(".flash.error")
    page.click("#backtest button[type=submit]")
    page.wait_for_url("**/versions/2/backtest")
    page.goto(f"{base}/console/rules/versions/2")
    assert "recorded decisions would change" in page.inner_text("#latest-backtest")
    assert page.locator("#unbacktested").count() == 0
    layout = page.evaluate("['#diff', '#latest-backtest', '#activate'].map(s => document.querySelector(s)"
                           ".getBoundingClientRect().top)")
    assert layout == sorted(layout)  # the diff and the backtest come before the Activate button
    shoot(page, "10-version")
    page.fill("#activate-message", "spring is over")
    page.click("#activate button[type=submit]")
    page.wait_for_url(f"{base}/console/rules")
    assert "Version 2 is active" in page.inner_text(".flash")
    assert "v2" in page.inner_text("#versions tr.active-row")
    page.click("ol.history li >> nth=0 >> summary")
    shoot(page, "11-rules-activated")

    _activation_reaches_the_api(base, served["rita"], 2)
    page.fill("#rollback-message", "too early")
    page.click("#rollback button[type=submit]")
    page.wait_for_url(f"{base}/console/rules")
    assert "version 1 is active again" in page.inner_text(".flash")
    assert "v1" in page.inner_text("#versions tr.active-row")
    shoot(page, "12-rolled-back")
    _activation_reaches_the_api(base, served["rita"], 1)

    page.click("#signout")
    page.wait_for_url("**/console/signin")
    page.goto(f"{base}/console/rules")
    assert "/console/signin" in page.url


def _activation_reaches_the_api(base: str, key: str, version: int) -> None:
    """What the console activated is what the API serves, within the 2 s every worker takes to see it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        served = requests.get(f"{base}/v1/rules", headers={"Authorization": f"Bearer {key}"}, timeout=5).json()
        if served["version"] == version:
            return
        time.sleep(0.2)
    pytest.fail(f"the API still serves version {served['version']}, not {version}")


def test_the_export_streams_from_the_real_server(served: dict[str, str]):
    auth = {"Authorization": f"Bearer {served['rita']}"}
    with requests.get(f"{served['base']}/v1/decisions/export?format=ndjson&campaign_id=newsletter", headers=auth,
                      stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].endswith('.ndjson"')
        records = [json.loads(line) for line in response.iter_lines() if line]
    assert len(records) == 3 and {r["campaign_id"] for r in records} == {"newsletter"}


LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
VIOLATIONS = ("window.__violations = []; document.addEventListener('securitypolicyviolation', e =>"
              " window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")


def test_the_api_reference_renders_offline_and_calls_this_guard(page: Any, served: dict[str, str]):
    """/docs, reached from the console, in a browser that can reach nothing but Guard: every operation of the
    served description is listed, and "Try it out" calls this very Guard with a key typed into Authorize."""
    base = served["base"]
    outside: list[str] = []

    def loopback_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", loopback_only)
    page.add_init_script(VIOLATIONS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{base}/console/signin")
    page.click("footer >> text=API reference")
    page.wait_for_url(f"{base}/docs")
    page.wait_for_selector(".opblock")
    doc = requests.get(f"{base}/openapi.json", timeout=10).json()
    assert doc["servers"][0]["url"] == base
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    shown = page.evaluate("[...document.querySelectorAll('.opblock')].map(o => ["
                          "o.querySelector('.opblock-summary-method').innerText,"
                          " o.querySelector('.opblock-summary-path').dataset.path])")
    assert len(shown) == len(documented) and {tuple(s) for s in shown} == documented
    assert ("POST", "/v1/decisions") in documented and len(documented) >= 20
    shoot(page, "13-api-reference")

    page.click("button.authorize")
    page.fill(".auth-container input", served["crm"])
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")
    failsafe = page.locator("#operations-operations-getFailsafe")
    failsafe.locator(".opblock-summary").click()
    failsafe.locator("button.try-out__btn").click()
    failsafe.locator("button.execute").click()
    live = failsafe.locator(".live-responses-table")
    status = live.locator("tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert '"fail_closed"' in live.inner_text() and f"{base}/v1/policy/failsafe" in failsafe.inner_text()
    shoot(page, "14-api-reference-try-it")

    assert outside == [], f"the reference tried to reach other hosts: {outside}"
    assert page.evaluate("window.__violations") == []
    assert errors == []
