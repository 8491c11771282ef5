"""guard_client against a real `guard serve`: decisions, batches, streams and events, retries and the fail-safe."""

from __future__ import annotations

import uuid

import pytest
import requests
from guard_client import DEFAULT_FAILSAFE, GuardClient, GuardError, GuardUnavailable, verify_proof

from guard.core.config import DEFAULT_FAILSAFE as SERVER_DEFAULT
from tests.cli.test_serve import _serving
from tests.client.conftest import create_key, proxy_to, server_env, unused_port_url

pytestmark = pytest.mark.slow

SEND_AT = "2026-03-04T10:00:00Z"  # a weekday morning: no quiet hours or weekend rule interferes
# A loaded test machine may take longer than the client's 2 s default; these tests want real answers.
SLOW = 30.0


def _complaint(customer: str) -> dict[str, object]:
    return {"event_id": f"helpdesk-{customer}", "customer_id": customer, "type": "complaint.opened",
            "occurred_at": "2026-03-01T09:30:00Z", "data": {"case_id": f"CASE-{customer}"}}


def _customer() -> str:
    return f"cust-{uuid.uuid4().hex[:8]}"


def test_events_then_a_decision_as_in_the_walk_through(guard_server: tuple[str, str]) -> None:
    base, key = guard_server
    customer = _customer()
    with GuardClient(base, key, timeout=SLOW) as guard:
        assert [r["status"] for r in guard.send_events([_complaint(customer)])] == ["created"]
        assert [r["status"] for r in guard.send_events([_complaint(customer)])] == ["duplicate"]
        decision = guard.decide(customer, "email", "marketing", campaign_id="spring-sale", send_at=SEND_AT)
        assert (decision.outcome, decision.route, decision.failsafe) == ("reroute", "care", False)
        assert decision.reasons[0]["rule_id"] == "care-first" and decision.decision_id
        assert not decision.may_send
        # The first call that worked also fetched the server's fail-safe policy.
        assert guard.policy.fetched and guard.policy.when_unreachable == SERVER_DEFAULT
        assert verify_proof(guard.proof(decision.decision_id))  # in the audit chain, checked on this side


def test_a_request_guard_refuses_raises_with_its_code(guard_server: tuple[str, str]) -> None:
    base, key = guard_server
    with GuardClient(base, key, timeout=SLOW) as guard, pytest.raises(GuardError) as raised:
        guard.decide(_customer(), "pigeon", "marketing")
    assert (raised.value.status, raised.value.code) == (422, "validation_failed")
    assert "channel" in raised.value.details


def test_decide_many_answers_in_order_with_each_items_own_error(guard_server: tuple[str, str]) -> None:
    base, key = guard_server
    customer = _customer()
    with GuardClient(base, key, timeout=SLOW) as guard:
        guard.send_events([_complaint(customer)])
        results = guard.decide_many([
            {"customer_id": customer, "channel": "email", "purpose": "marketing", "send_at": SEND_AT},
            {"customer_id": customer, "channel": "pigeon", "purpose": "marketing"},
            {"customer_id": customer, "channel": "email", "purpose": "transactional", "send_at": SEND_AT},
        ])
    assert [r.outcome for r in results] == ["reroute", None, "allow"]
    assert results[1].error is not None and results[1].error["code"] == "validation_failed"
    assert len({r.idempotency_key for r in results}) == 3 and not any(r.failsafe for r in results)


def test_screen_campaign_streams_every_customer_in_order_with_progress(
        guard_server: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base, key = guard_server
    customers = [_customer() for _ in range(25)]
    with GuardClient(base, key, timeout=SLOW) as guard:
        guard.send_events([_complaint(customers[7])])
        message = {"channel": "email", "purpose": "marketing", "campaign_id": "spring", "send_at": SEND_AT}
        results = list(guard.screen_campaign(message, customers, progress=True))
    assert [r.customer_id for r in results] == customers
    assert [r.outcome for r in results] == ["allow"] * 7 + ["reroute"] + ["allow"] * 17
    assert all(r.decision_id and not r.failsafe for r in results)
    assert "25/25" in capsys.readouterr().err


def test_a_retry_after_a_503_reuses_the_idempotency_key_and_waits_as_told(guard_server: tuple[str, str]) -> None:
    base, key = guard_server
    customer = _customer()
    with (proxy_to(base, failures=1, retry_after="1") as (url, proxy),
          GuardClient(url, key, timeout=SLOW, retries=2) as guard):
        decision = guard.decide(customer, "email", "transactional", send_at=SEND_AT)
    assert decision.outcome == "allow" and not decision.failsafe
    (first_at, _, first), (second_at, _, second) = proxy.seen[:2]
    assert first is not None and second is not None
    assert first["idempotency_key"] == second["idempotency_key"] == decision.idempotency_key
    assert second_at - first_at >= 0.9  # Retry-After: 1 was honoured
    audit = requests.get(f"{base}/v1/decisions", params={"customer_id": customer}, timeout=10,
                         headers={"Authorization": f"Bearer {key}"}).json()["items"]
    assert [a["decision_id"] for a in audit] == [decision.decision_id]


def test_5xx_after_every_retry_applies_the_failsafe(guard_server: tuple[str, str]) -> None:
    base, key = guard_server
    with proxy_to(base, failures=100, retry_after="0") as (url, proxy), GuardClient(url, key, retries=2) as guard:
        marketing = guard.decide(_customer(), "email", "marketing")
        service = guard.decide(_customer(), "email", "service")
    assert (marketing.outcome, marketing.failsafe, service.outcome, service.failsafe) == ("block", True, "allow", True)
    assert len(proxy.seen) == 6  # three attempts each
    keys = {body["idempotency_key"] for _, _, body in proxy.seen[:3] if body}
    assert keys == {marketing.idempotency_key}


def test_a_server_never_reached_gets_guards_documented_default() -> None:
    assert DEFAULT_FAILSAFE == SERVER_DEFAULT
    with GuardClient(unused_port_url(), "no-key", retries=1, backoff=0) as guard:
        answers = {p: guard.decide("cust-1", "email", p) for p in SERVER_DEFAULT}
        assert not guard.policy.fetched
    for purpose, mode in SERVER_DEFAULT.items():
        assert answers[purpose].failsafe
        assert answers[purpose].outcome == ("allow" if mode == "open" else "block")
        assert answers[purpose].decision_id is None


def test_a_stopped_server_gets_the_policy_it_published(served_db: str, tmp_path_factory: pytest.TempPathFactory
                                                        ) -> None:
    env = server_env(served_db, GUARD_FAILSAFE="service=closed")
    key = create_key(env)
    with _serving(env, tmp_path_factory.mktemp("stopped"), workers=1) as (base, proc):
        guard = GuardClient(base, key, timeout=SLOW, retries=1, backoff=0)
        assert guard.decide(_customer(), "email", "service", send_at=SEND_AT).outcome == "allow"
        assert guard.policy.when_unreachable["service"] == "closed"
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        customers = [_customer() for _ in range(3)]
        service = guard.decide(customers[0], "email", "service")
        many = guard.decide_many([{"customer_id": c, "channel": "sms", "purpose": "transactional"}
                                  for c in customers])
        screened = list(guard.screen_campaign({"channel": "email", "purpose": "marketing"}, customers))
        with pytest.raises(GuardUnavailable):
            guard.send_events([_complaint(customers[0])])
        guard.close()
    # Guard's default would send a service message; the published policy holds it.
    assert (service.outcome, service.failsafe) == ("block", True)
    assert [(d.outcome, d.failsafe) for d in many] == [("allow", True)] * 3
    assert [(d.outcome, d.failsafe, d.customer_id) for d in screened] == [("block", True, c) for c in customers]


def test_a_campaign_stream_refused_with_503_is_sent_again_with_the_same_keys(guard_server: tuple[str, str]) -> None:
    base, key = guard_server
    customers = [_customer() for _ in range(4)]
    message = {"channel": "email", "purpose": "marketing", "send_at": SEND_AT}
    with proxy_to(base, failures=1, retry_after="0") as (url, proxy), GuardClient(url, key, timeout=SLOW) as guard:
        results = list(guard.screen_campaign(message, customers))
    assert [(r.outcome, r.failsafe, r.customer_id) for r in results] == [("allow", False, c) for c in customers]
    first, second = (body for _, path, body in proxy.seen if path == "/v1/decisions/stream")
    assert first == second and [line["idempotency_key"] for line in second] == [r.idempotency_key for r in results]


def test_a_campaign_stream_cut_midway_resumes_after_the_last_answer(guard_server: tuple[str, str]) -> None:
    base, key = guard_server
    customers = [_customer() for _ in range(6)]
    message = {"channel": "email", "purpose": "marketing", "send_at": SEND_AT}
    with (proxy_to(base, failures=0, cut_after=2) as (url, proxy),
          GuardClient(url, key, timeout=SLOW, backoff=0) as guard):
        results = list(guard.screen_campaign(message, customers))
    assert [(r.outcome, r.failsafe, r.customer_id) for r in results] == [("allow", False, c) for c in customers]
    first, second = (body for _, path, body in proxy.seen if path == "/v1/decisions/stream")
    # The second attempt sends only the four customers not yet answered, with their original keys.
    assert [line["customer_id"] for line in second] == customers[2:]
    assert [line["idempotency_key"] for line in second] == [line["idempotency_key"] for line in first[2:]]
    audit = requests.get(f"{base}/v1/decisions", params={"customer_id": customers[0]}, timeout=30,
                         headers={"Authorization": f"Bearer {key}"}).json()["items"]
    assert [a["decision_id"] for a in audit] == [results[0].decision_id]
