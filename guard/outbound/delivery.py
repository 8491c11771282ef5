"""The delivery cycle, each step its own short transaction: fan messages out to subscriptions, claim what is
due, send it, record the answer.

Exactly one worker sends an attempt: a claim holds a delivery until `claimed_until`. On PostgreSQL claims take
rows with `FOR UPDATE SKIP LOCKED` (workers on several hosts never wait for or take each other's rows); on
SQLite the writer lock serializes the claiming transactions. A worker killed mid-attempt leaves its claim to
expire, and the delivery is sent again: at least once, never lost (receivers drop repeats by `webhook-id`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from guard.core.vault import SecretUnreadable
from guard.outbound.client import Answer, TargetRefused, post
from guard.outbound.signing import BadSecret, secret_bytes, signed_headers
from guard.outbound.subscriptions import signing_secret
from guard.storage.database import Database
from guard.storage.sql import Sql, member_of

log = logging.getLogger("guard.outbound.delivery")

FAN_OUT_BATCH = 200
MAX_DELAY = 3600.0  # retries are at least this frequent, however many failed before


@dataclass(frozen=True)
class Policy:
    """How attempts are made and retried."""

    timeout: float = 5.0
    backoff: float = 10.0  # the first retry's delay; doubled after each failure, at most MAX_DELAY
    retry_for: float = 24 * 3600.0
    public_only: bool = False  # GUARD_WEBHOOK_TARGETS=public

    def lease(self) -> timedelta:
        """How long a claim holds a delivery: longer than any attempt can take."""
        return timedelta(seconds=self.timeout + 30)

    def delay(self, attempts: int) -> timedelta:
        """The wait before the next attempt, after `attempts` failed ones."""
        return timedelta(seconds=min(self.backoff * 2 ** (attempts - 1), MAX_DELAY))


@dataclass(frozen=True)
class Job:
    """One claimed attempt: the delivery, the message and where it goes."""

    delivery_id: int
    claim: str
    attempts: int
    give_up_at: datetime
    message_id: str
    body: bytes
    subscription_id: int
    url: str
    secret_box: str


def _locked(sql: Sql) -> str:
    return " FOR UPDATE SKIP LOCKED" if sql.postgres else ""


def work_waiting(db: Database, now: datetime) -> bool:
    """Whether a message awaits fan-out or a delivery is due (a read only: idle workers take no write lock)."""
    with db.raw_reads() as sql:
        if sql.first("SELECT 1 FROM outbox WHERE fanned_out_at IS NULL LIMIT 1"):
            return True
        return sql.first(_DUE.format(columns="1") + " LIMIT 1", (sql.time(now), sql.time(now))) is not None


# Due: pending, its time come, and claimed by nobody (or by a worker whose lease ran out).
_DUE = ("SELECT {columns} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? "
        "AND (claimed_until IS NULL OR claimed_until <= ?)")


def fan_out(db: Database, now: datetime, policy: Policy) -> int:
    """Make one pending delivery per message not yet fanned out and live subscription wanting its type."""
    with db.raw_transaction() as sql:
        messages = sql.rows(f"SELECT id, type FROM outbox WHERE fanned_out_at IS NULL ORDER BY id LIMIT ?"
                            f"{_locked(sql)}", (FAN_OUT_BATCH,))
        if not messages:
            return 0
        wanted = [(int(row[0]), set(sql.read_json(row[1]))) for row in
                  sql.rows("SELECT id, events FROM webhook_subscriptions WHERE removed_at IS NULL")]
        at, give_up = sql.time(now), sql.time(now + timedelta(seconds=policy.retry_for))
        rows = [(message_id, subscription_id, "pending", 0, at, give_up, at)
                for message_id, kind in messages for subscription_id, events in wanted if kind in events]
        if rows:
            sql.many("INSERT INTO webhook_deliveries (outbox_id, subscription_id, status, attempts, next_attempt_at, "
                     "give_up_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        condition, params = member_of(sql, "id", [row[0] for row in messages])
        sql.run(f"UPDATE outbox SET fanned_out_at = ? WHERE {condition}", [at, *params])
        return len(rows)


def claim(db: Database, now: datetime, policy: Policy, limit: int) -> list[Job]:
    """Take up to `limit` due deliveries for this worker until its lease ends."""
    token = uuid.uuid4().hex
    with db.raw_transaction() as sql:
        due = sql.rows(_DUE.format(columns="id") + f" ORDER BY next_attempt_at, id LIMIT ?{_locked(sql)}",
                       (sql.time(now), sql.time(now), limit))
        if not due:
            return []
        ids = [row[0] for row in due]
        taken, params = member_of(sql, "id", ids)
        sql.run(f"UPDATE webhook_deliveries SET claimed_until = ?, claim = ? WHERE {taken}",
                [sql.time(now + policy.lease()), token, *params])
        chosen, params = member_of(sql, "d.id", ids)
        rows = sql.rows("SELECT d.id, d.attempts, d.give_up_at, o.message_id, o.body, s.id, s.url, s.secret_box "
                        "FROM webhook_deliveries d JOIN outbox o ON o.id = d.outbox_id "
                        f"JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE {chosen} ORDER BY d.id",
                        params)
        return [Job(int(r[0]), token, int(r[1]), sql.read_time(r[2]) or now, str(r[3]), str(r[4]).encode("utf-8"),
                    int(r[5]), str(r[6]), str(r[7])) for r in rows]


def attempt(job: Job, audit_key: bytes, now: datetime, policy: Policy) -> Answer:
    """Sign and send one attempt (never raises for what the receiver or the stored secret does)."""
    try:
        key = secret_bytes(signing_secret(audit_key, job.subscription_id, job.secret_box))
    except (SecretUnreadable, BadSecret):
        return Answer(None, "the signing secret cannot be read with this audit key: add the subscription again")
    try:
        return post(job.url, job.body, signed_headers(key, job.message_id, now, job.body), policy.timeout,
                    public_only=policy.public_only)
    except TargetRefused as exc:
        return Answer(None, str(exc))
    except Exception as exc:  # a fault of Guard's own must fail this attempt, not stall the delivery
        log.exception("webhook attempt %s failed unexpectedly", job.delivery_id)
        return Answer(None, f"internal error: {type(exc).__name__}")


def record(db: Database, job: Job, answer: Answer, now: datetime, policy: Policy) -> str:
    """Write down how an attempt went; the delivery's status now (delivered, retrying, failed)."""
    attempts = job.attempts + 1
    if answer.ok:
        status, outcome, next_at, delivered_at = "delivered", "delivered", now, now
    else:
        next_at, delivered_at = now + policy.delay(attempts), None
        status, outcome = ("failed", "failed") if next_at > job.give_up_at else ("pending", "retrying")
    with db.raw_transaction(small=True) as sql:
        # Only while the claim is this worker's: a redelivery asked meanwhile starts afresh.
        sql.run("UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, "
                "last_error = ?, last_attempt_at = ?, delivered_at = ?, claimed_until = NULL, claim = NULL "
                "WHERE id = ? AND claim = ?",
                (status, attempts, sql.time(next_at), answer.status, _error(answer), sql.time(now),
                 sql.time(delivered_at), job.delivery_id, job.claim))
    return outcome


def _error(answer: Answer) -> Any:
    if answer.ok:
        return None
    return (answer.error or "failed")[:1000]
