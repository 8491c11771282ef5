"""The delivery worker: a thread in each server process that delivers the outbox, apart from any request.

It never shares a transaction with a decision: each step is its own short transaction, and sending happens
outside any (a slow receiver holds no lock). Idle, it only reads, every `interval` seconds.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from guard.core.metrics import count_webhook_attempt
from guard.core.timeutil import utcnow
from guard.outbound.delivery import Job, Policy, attempt, claim, fan_out, record, work_waiting
from guard.storage.database import Database

log = logging.getLogger("guard.outbound.worker")

SENDERS = 4  # attempts in flight per process: one slow receiver does not hold up the others
MAX_PAUSE = 30.0  # after errors (the database down), the longest wait before trying again


class Deliverer:
    """Delivers due messages until stopped."""

    def __init__(self, db: Database, audit_key: bytes, policy: Policy, interval: float = 0.5) -> None:
        self.db = db
        self.audit_key = audit_key
        self.policy = policy
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="guard-webhook-send")

    def start(self) -> Deliverer:
        """Run in a daemon thread (the process may exit at any time: unrecorded attempts are made again)."""
        self._thread = threading.Thread(target=self.run, name="guard-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the current round and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._senders.shutdown(wait=False, cancel_futures=True)
        self.db.dispose()

    def run(self) -> None:
        """Rounds until stopped: at once again while there was work, after `interval` when idle."""
        pause = self.interval
        while not self._stop.is_set():
            try:
                busy = self.round()
                pause = self.interval
            except Exception:  # the database unreachable, most likely: keep trying, less often
                log.warning("webhook delivery round failed; trying again in %.1f s", pause, exc_info=True)
                busy = False
                pause = min(pause * 2, MAX_PAUSE)
            if not busy:
                self._stop.wait(pause)

    def round(self) -> bool:
        """Fan out new messages, then send what is due; whether anything was done."""
        now = utcnow()
        if not work_waiting(self.db, now):
            return False
        made = fan_out(self.db, now, self.policy)
        jobs = claim(self.db, utcnow(), self.policy, SENDERS * 2)
        for outcome in self._senders.map(self._deliver, jobs):
            count_webhook_attempt(outcome)
        return bool(made or jobs)

    def _deliver(self, job: Job) -> str:
        answer = attempt(job, self.audit_key, utcnow(), self.policy)
        return record(self.db, job, answer, utcnow(), self.policy)
