"""The hold worker: a background thread of each server process that reschedules holds whose cases changed and
settles the due ones, about twice a second. Nothing it needs lives in memory: after a restart the first turn
looks at every waiting hold again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from guard.core.timeutil import utcnow
from guard.holds.release import case_event_customers, last_event_pk, release_due, reschedule, waiting_customers
from guard.policy.evaluate import Evaluator
from guard.storage.database import Database

log = logging.getLogger("guard.holds")

POLL_SECONDS = 0.5
# Every so often every waiting hold is looked at again: a case event committed out of row order (concurrent
# PostgreSQL transactions) may have been passed over by the watch on new event rows.
FULL_SWEEP_SECONDS = 60.0


class HoldWorker:
    """Polls for due holds and new case events until stopped."""

    def __init__(self, db: Database, evaluator: Callable[[], Evaluator], now: Callable[[], datetime] = utcnow,
                 interval: float = POLL_SECONDS) -> None:
        self._db = db
        self._evaluator = evaluator
        self._now = now
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._event_mark: int | None = None
        self._last_sweep = float("-inf")

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="guard-holds", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current turn."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.turn()
                if failing:
                    log.info("hold worker running again")
                failing = False
            except Exception:  # the database may be down: try again next turn, saying so once
                log.log(logging.DEBUG if failing else logging.WARNING, "hold worker turn failed", exc_info=True)
                failing = True
            self._stop.wait(self._interval)

    def turn(self) -> int:
        """One turn: reschedule on new case events (all waiting holds now and then), then settle due holds."""
        if self._event_mark is None or time.monotonic() - self._last_sweep >= FULL_SWEEP_SECONDS:
            mark = last_event_pk(self._db)
            self.sweep_all()
            self._event_mark = max(self._event_mark or 0, mark)
            self._last_sweep = time.monotonic()
        while True:
            customers, self._event_mark = case_event_customers(self._db, self._event_mark)
            if not customers:
                break
            reschedule(self._db, customers, self._now())
        return release_due(self._db, self._evaluator, self._now)

    def sweep_all(self) -> None:
        """Reschedule every waiting hold from its case events."""
        position = 0
        while True:
            customers, position = waiting_customers(self._db, position)
            if not customers:
                return
            reschedule(self._db, customers, self._now())
