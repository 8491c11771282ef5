"""GuardClient: decisions, campaigns and events over Guard's HTTP API, with retries and the fail-safe."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests

from guard_client.models import Decision, FailsafePolicy, GuardError, GuardUnavailable

BATCH_SIZE = 1000  # items per POST /v1/decisions/batch and /v1/events call (Guard takes up to 1000 events)
NDJSON = "application/x-ndjson"


class _Retryable(Exception):
    """One attempt failed in a way another attempt may not: no connection, a timeout, a 5xx or a 429."""

    def __init__(self, reason: str, response: requests.Response | None = None) -> None:
        super().__init__(reason)
        self.response = response


class GuardClient:
    """A client for one Guard server and API key.

    >>> guard = GuardClient("http://127.0.0.1:8080", api_key)
    >>> decision = guard.decide("cust-42", channel="email", purpose="marketing", campaign_id="spring-sale")
    >>> if decision.may_send: ...
    """

    def __init__(self, base_url: str, api_key: str, timeout: float = 2.0, retries: int = 2, backoff: float = 0.2,
                 max_wait: float = 10.0, policy_ttl: float = 600.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_wait = max_wait
        self.policy_ttl = policy_ttl
        self._session = session or requests.Session()
        self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._policy = FailsafePolicy()
        self._policy_at: float | None = None

    def __enter__(self) -> GuardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    # --- the fail-safe policy ---

    @property
    def policy(self) -> FailsafePolicy:
        """The fail-safe in force: the server's last fetched policy, or Guard's documented default."""
        return self._policy

    def refresh_policy(self) -> FailsafePolicy:
        """Fetch GET /v1/policy/failsafe now (with retries) and cache it."""
        return self._store_policy(self._call("GET", "/v1/policy/failsafe"))

    def _store_policy(self, response: requests.Response) -> FailsafePolicy:
        body = response.json()
        self._policy = FailsafePolicy(dict(body["when_unreachable"]), fetched=True)
        self._policy_at = time.monotonic()
        return self._policy

    def _refresh_policy_if_stale(self) -> None:
        """After a call that worked: one attempt at refreshing a policy older than policy_ttl (never fails)."""
        if self._policy_at is not None and time.monotonic() - self._policy_at < self.policy_ttl:
            return
        # Checked now whatever happens: a failing fetch is tried again after policy_ttl, not on every call, and
        # the previous policy (or Guard's default) stays in force meanwhile.
        self._policy_at = time.monotonic()
        with contextlib.suppress(_Retryable, GuardError, ValueError, KeyError, TypeError):
            self._store_policy(self._attempt("GET", "/v1/policy/failsafe"))

    # --- decisions ---

    def decide(self, customer_id: str, channel: str, purpose: str, *, campaign_id: str | None = None,
               product_ids: Sequence[str] | None = None, send_at: datetime | str | None = None,
               attributes: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
               dry_run: bool = False, rules_version: int | None = None) -> Decision:
        """Ask Guard about one planned send (POST /v1/decisions); the fail-safe answers when Guard cannot."""
        request = _request_body(customer_id=customer_id, channel=channel, purpose=purpose, campaign_id=campaign_id,
                                product_ids=list(product_ids) if product_ids is not None else None,
                                send_at=_iso(send_at), attributes=dict(attributes) if attributes else None,
                                dry_run=dry_run or None, rules_version=rules_version)
        request["idempotency_key"] = idempotency_key or _new_key()
        try:
            body = self._call("POST", "/v1/decisions", json=request).json()
        except GuardUnavailable:
            return self._policy.decide(purpose, request["idempotency_key"], customer_id)
        self._refresh_policy_if_stale()
        return Decision.from_json(body, request["idempotency_key"], customer_id)

    def decide_many(self, requests_: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """Ask about many sends (POST /v1/decisions/batch, 1000 per call); results in input order."""
        prepared = [{**r, "idempotency_key": r.get("idempotency_key") or _new_key()} for r in requests_]
        results: list[Decision] = []
        for start in range(0, len(prepared), BATCH_SIZE):
            chunk = prepared[start:start + BATCH_SIZE]
            try:
                answer = self._call("POST", "/v1/decisions/batch", json={"requests": chunk}).json()
            except GuardUnavailable:
                results.extend(self._failsafe(r) for r in chunk)
                continue
            results.extend(Decision.from_json(item, r["idempotency_key"], _text(r.get("customer_id")))
                           for item, r in zip(answer["results"], chunk, strict=True))
        if prepared and not all(d.failsafe for d in results):
            self._refresh_policy_if_stale()
        return results

    def screen_campaign(self, message: Mapping[str, Any], customer_ids: Iterable[str], *,
                        progress: bool = False, idempotency_prefix: str | None = None) -> Iterator[Decision]:
        """Screen one message for many customers (POST /v1/decisions/stream); yields decisions in order.

        A cut connection resumes after the last answer received, with the same idempotency keys; when Guard
        stays unreachable the remaining customers get the fail-safe for the message's purpose.
        """
        ids = [str(c) for c in customer_ids]
        prefix = idempotency_prefix or _new_key()
        keys = [f"{prefix}-{i}" for i in range(len(ids))]
        bar = _progress(len(ids)) if progress else None
        done, attempt = 0, 0
        try:
            while done < len(ids):
                try:
                    for decision in self._stream_from(message, ids, keys, done):
                        done += 1
                        if bar is not None:
                            bar.update(1)
                        yield decision
                    if done < len(ids):
                        raise _Retryable("The stream ended before every customer was answered.")
                except _Retryable as failure:
                    if attempt >= self.retries:
                        for i in range(done, len(ids)):
                            yield self._policy.decide(str(message.get("purpose")), keys[i], ids[i])
                            if bar is not None:
                                bar.update(1)
                        return
                    time.sleep(self._wait(attempt, failure.response))
                    attempt += 1
            self._refresh_policy_if_stale()
        finally:
            if bar is not None:
                bar.close()

    def _stream_from(self, message: Mapping[str, Any], ids: list[str], keys: list[str], start: int
                     ) -> Iterator[Decision]:
        """One attempt at streaming the customers from `start` on; raises _Retryable when it is cut."""
        lines = (json.dumps({**message, "customer_id": ids[i], "idempotency_key": keys[i]}).encode() + b"\n"
                 for i in range(start, len(ids)))
        response = self._attempt("POST", "/v1/decisions/stream", data=lines, headers={"Content-Type": NDJSON},
                                 stream=True, timeout=(self.timeout, None))
        position = start
        try:
            for line in _lines_as_they_come(response):
                yield Decision.from_json(json.loads(line), keys[position], ids[position])
                position += 1
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ValueError) as exc:
            raise _Retryable(f"The stream was cut: {exc}") from exc
        finally:
            response.close()

    def _failsafe(self, request: Mapping[str, Any]) -> Decision:
        return self._policy.decide(str(request.get("purpose")), request.get("idempotency_key"),
                                   _text(request.get("customer_id")))

    # --- the audit log ---

    def proof(self, decision_id: str) -> dict[str, Any]:
        """A decision's proof of inclusion in the audit chain (GET /v1/decisions/ID/proof, scope read); check it
        with `guard_client.verify_proof`."""
        body: dict[str, Any] = self._call("GET", f"/v1/decisions/{quote(decision_id, safe='')}/proof").json()
        return body

    # --- events ---

    def send_events(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Tell Guard what happened (POST /v1/events, 1000 per call); one result per event, in order.

        Events carry their own event_id, so sending one twice is harmless. Raises GuardUnavailable when Guard
        cannot be reached: keep the events and send them again later.
        """
        results: list[dict[str, Any]] = []
        for start in range(0, len(events), BATCH_SIZE):
            chunk = [dict(e) for e in events[start:start + BATCH_SIZE]]
            answer = self._call("POST", "/v1/events", json={"events": chunk}).json()
            results.extend({**item, "index": start + item.get("index", 0)} for item in answer["results"])
        return results

    # --- HTTP with retries ---

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One API call with retries on no connection, timeouts, 5xx and 429 (honouring Retry-After)."""
        for attempt in range(self.retries + 1):
            try:
                return self._attempt(method, path, **kwargs)
            except _Retryable as failure:
                last = failure
                if attempt < self.retries:
                    time.sleep(self._wait(attempt, failure.response))
        if last.response is not None and last.response.status_code == 429:
            raise _error(last.response)
        raise GuardUnavailable(str(last)) from last

    def _attempt(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request: the response when it is 2xx, _Retryable or GuardError otherwise."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self._session.request(method, self.base_url + path, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(f"Guard could not be reached: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            response.close()
            raise _Retryable(f"Guard answered {response.status_code}.", response)
        if response.status_code >= 400:
            raise _error(response)
        return response

    def _wait(self, attempt: int, response: requests.Response | None) -> float:
        """Seconds before the next attempt: Retry-After when Guard sent it, else exponential backoff."""
        after = _retry_after(response.headers.get("Retry-After")) if response is not None else None
        wait = after if after is not None else self.backoff * (2 ** attempt)
        return max(0.0, min(wait, self.max_wait))


def _lines_as_they_come(response: requests.Response) -> Iterator[bytes]:
    """The non-empty lines of a streamed body, each yielded as soon as it is complete (so a cut loses none)."""
    pending = b""
    for chunk in response.iter_content(chunk_size=None):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending


def _request_body(**fields: Any) -> dict[str, Any]:
    """A request body without the fields left unset (Guard applies its own defaults)."""
    return {key: value for key, value in fields.items() if value is not None}


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _new_key() -> str:
    return str(uuid.uuid4())


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _error(response: requests.Response) -> GuardError:
    """GuardError from Guard's JSON error body (`{"error": {"code", "message", "details"}}`)."""
    try:
        error = response.json()["error"]
        return GuardError(response.status_code, error["code"], error["message"], error.get("details"))
    except (ValueError, KeyError, TypeError):
        return GuardError(response.status_code, "http_error", response.text[:200])


def _progress(total: int) -> Any:
    """A tqdm progress bar; tqdm is the optional `progress` extra."""
    try:
        from tqdm import tqdm
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("progress=True needs tqdm: pip install 'guard-client[progress]'") from exc
    return tqdm(total=total, unit="customer")
