"""The active rules of one process, kept in step with the database's activation log."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from sqlalchemy import select

from guard.core.errors import NotFound, ServiceUnavailable
from guard.lifecycle.versions import MAX_VERSION, sources_of
from guard.policy.evaluate import Evaluator
from guard.policy.ruleset import build_evaluator
from guard.storage.database import Database
from guard.storage.tables.lifecycle import RuleActivation, RuleVersion

# Every process looks at the activation log at most this often, so an activation is served everywhere
# within about a second, with one indexed one-row query per second per process.
CHECK_INTERVAL = 0.5
# A swapped-out evaluator stays usable this long for requests that already hold it.
RETIRE_AFTER = 30.0
CACHE_SIZE = 4
# Dry runs against versions that are not cached compile one at a time per process, off the lock that live
# decisions take; a dry run waits at most this long for another one's compile, then gets a 503.
COMPILE_WAIT = 10.0


class ActiveRules:
    """Serves the evaluator of the newest activation; also compiles other versions for dry runs."""

    def __init__(self, db: Database, check_interval: float = CHECK_INTERVAL) -> None:
        self._db = db
        self._interval = check_interval
        self._lock = threading.Lock()  # the activation: taken by live decisions when they look at the log
        self._cache_lock = threading.Lock()  # the cache and the retired list: held only to read or update them
        self._compile_lock = threading.Lock()  # one dry-run compile at a time
        self._activation_id: int | None = None
        self._evaluator: Evaluator | None = None
        self._checked_at = 0.0
        self._cache: OrderedDict[int, Evaluator] = OrderedDict()
        self._retired: list[tuple[float, Evaluator]] = []

    @property
    def current(self) -> Evaluator:
        """The evaluator of the active version, refreshed when the activation log moved."""
        if self._evaluator is None or time.monotonic() - self._checked_at >= self._interval:
            self.refresh()
        assert self._evaluator is not None
        return self._evaluator

    def refresh(self) -> None:
        """Look at the activation log now and swap in the active version if it changed."""
        with self._lock:
            with self._db.sessions() as session:
                row = session.execute(
                    select(RuleActivation.id, RuleActivation.version).order_by(RuleActivation.id.desc()).limit(1)
                ).first()
            self._checked_at = time.monotonic()
            if row is None:
                if self._evaluator is None:
                    raise ServiceUnavailable("No rules version is active yet: run `guard serve` or activate one.")
                return
            activation_id, number = row
            if activation_id != self._activation_id:
                self._evaluator = self._cached(number) or self._compile(number)
                self._activation_id = activation_id
            self._close_retired()

    def version(self, number: int) -> Evaluator:
        """The evaluator of any stored version (for dry runs against a candidate); never under the activation lock."""
        cached = self._cached(number)
        if cached is not None:
            return cached
        if not self._compile_lock.acquire(timeout=COMPILE_WAIT):
            raise ServiceUnavailable("Another rules version is being compiled for a dry run; retry shortly.")
        try:
            return self._cached(number) or self._compile(number)
        finally:
            self._compile_lock.release()

    def _cached(self, number: int) -> Evaluator | None:
        with self._cache_lock:
            evaluator = self._cache.get(number)
            if evaluator is not None:
                self._cache.move_to_end(number)
            return evaluator

    def _compile(self, number: int) -> Evaluator:
        with self._db.sessions() as session:
            version = session.get(RuleVersion, number) if 0 < number <= MAX_VERSION else None
            if version is None:
                raise NotFound(f"No rules version {number}.", {"version": number})
            sources = sources_of(version)
        evaluator = build_evaluator(sources)
        evaluator.version = number
        with self._cache_lock:
            known = self._cache.get(number)
            if known is not None:  # compiled meanwhile by the activation: keep one
                self._retired.append((time.monotonic(), evaluator))
                return known
            self._cache[number] = evaluator
            while len(self._cache) > CACHE_SIZE:
                _, old = self._cache.popitem(last=False)
                if old is not self._evaluator:
                    self._retired.append((time.monotonic(), old))
        return evaluator

    def _close_retired(self) -> None:
        now = time.monotonic()
        with self._cache_lock:
            retired, self._retired = self._retired, []
        keep = []
        for retired_at, evaluator in retired:
            if now - retired_at >= RETIRE_AFTER and evaluator is not self._evaluator:
                evaluator.close()
            else:
                keep.append((retired_at, evaluator))
        with self._cache_lock:
            self._retired.extend(keep)
