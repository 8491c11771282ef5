"""A stream's or a batch's work spread over processes: helpers parse, validate and evaluate ahead, the worker
that took the request alone writes, in input order.

Helpers are started with `spawn` (a fresh interpreter: no database connection, thread or rule-engine state
crosses a fork) by `Helpers`, whose `start` function (guard.app's) builds each helper's database and rules
and hands them to `serve_as_helper`. A helper evaluates with the rules version the writer names for each
call, so a call is recorded under the version it was evaluated with, and activations are followed.
Imports guard.policy and below only (it is part of guard.decisions).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from guard.core.errors import GuardError
from guard.core.strictjson import Line, parse_line
from guard.decisions.service import Prepared, VersionLookup, _Item, evaluate_ahead, prepare_ahead
from guard.storage.database import Database

log = logging.getLogger("guard.decisions.parallel")

# After helpers were lost, workers work alone this long before starting new ones (a helper that cannot
# start must not cost every chunk a failed start).
RETRY_AFTER = 30.0
# How often a helper looks whether its worker is still there.
PARENT_CHECK = 1.0
# How long the writer waits for one call's helper before it does the work itself: far longer than any chunk
# takes, so only a helper that hangs is given up on.
HELPER_TIMEOUT = 120.0
# How often the writer, waiting for a helper's answer, looks whether every helper is still alive. A helper
# killed half-way through writing its answer leaves the pool's result reader waiting for the rest for ever:
# the pool then fails no call, and without this look each call handed out would cost HELPER_TIMEOUT.
LIVENESS_CHECK = 0.5

_HELPER: tuple[Database, VersionLookup] | None = None


def serve_as_helper(db: Database, versions: VersionLookup) -> None:
    """In a helper process, at its start: the database it reads and the rules versions it evaluates with."""
    global _HELPER
    _HELPER = (db, versions)
    threading.Thread(target=_leave_with, args=(os.getppid(),), name="guard-helper-watch", daemon=True).start()


def _leave_with(parent: int) -> None:
    """A helper leaves when its worker is gone (killed: nothing else would tell it, its queue stays open)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK)
    os._exit(0)


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Helpers:
    """A pool of helper processes owned by one worker process; started on first use, restarted after a loss."""

    def __init__(self, processes: int, start: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.count = processes
        self._start = start
        self._args = args
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._retry_at = 0.0
        # Which pool each call went to: a call of a pool given up on is not waited for.
        self._issued: weakref.WeakKeyDictionary[Future[Any], ProcessPoolExecutor] = weakref.WeakKeyDictionary()

    @property
    def available(self) -> bool:
        """False for a while after helpers were lost (see RETRY_AFTER)."""
        return time.monotonic() >= self._retry_at

    @property
    def depth(self) -> int:
        """Calls handed out ahead of the writer: each helper has one in hand and one waiting."""
        return 2 * self.count

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """Hand a call to a helper."""
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.count, mp_context=get_context("spawn"),
                                                 initializer=self._start, initargs=self._args)
            try:
                future = self._pool.submit(function, *args)
            except BrokenProcessPool as exc:  # a helper died since the last call: answered like a lost call
                future = Future()
                future.set_exception(exc)
            self._issued[future] = self._pool
            return future

    def abandoned(self, future: Future[Any]) -> bool:
        """True when the call's pool was given up on, or one of its helpers has died."""
        with self._lock:
            pool = self._issued.get(future)
            if pool is None or pool is not self._pool:
                return True
        return any(process.exitcode is not None for process in _processes_of(pool))

    def lost(self, pool_error: BaseException, future: Future[Any]) -> None:
        """The helper of `future` died or hung: stop them all; a later call starts fresh ones."""
        with self._lock:
            pool = self._issued.get(future)
            if pool is None or pool is not self._pool:  # given up on already
                return
            self._pool = None
            self._retry_at = time.monotonic() + RETRY_AFTER
        log.warning("stream helper processes lost (%s: %s); the worker does their work itself for %g s",
                    type(pool_error).__name__, pool_error, RETRY_AFTER)
        for process in _processes_of(pool):  # a hung one would never exit
            process.kill()
            process.join()
        _release_reader(pool)
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the helpers (at shutdown)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _processes_of(pool: ProcessPoolExecutor) -> list[Any]:
    """The pool's helper processes (private to the executor, which offers no way to see them)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _release_reader(pool: ProcessPoolExecutor) -> None:
    """Let the pool's manager thread end once its helpers are dead: if one died mid-answer, the thread waits
    for the rest of that answer until every writer of the result pipe is closed, and this process holds one."""
    queue = getattr(pool, "_result_queue", None)
    writer = getattr(queue, "_writer", None)
    if writer is not None and not writer.closed:
        writer.close()


def result_of(helpers: Helpers, future: Future[Any]) -> Any:
    """A helper's answer, or None when there is none (the caller then does the work itself)."""
    give_up = time.monotonic() + HELPER_TIMEOUT
    try:
        while True:
            try:
                return future.result(timeout=LIVENESS_CHECK)
            except TimeoutError:
                if helpers.abandoned(future) or time.monotonic() >= give_up:
                    raise
    except (BrokenProcessPool, CancelledError, TimeoutError) as exc:  # died, or stopped with the others, or hung
        helpers.lost(exc, future)
    except Exception:  # raised by the call (the database unreachable, an answer that could not be pickled)
        log.warning("a stream helper's call failed; the worker does its work itself", exc_info=True)
    return None


def _sent_back(items: list[_Item]) -> list[_Item]:
    """The items with equal values made one object: a campaign's requests differ only in the customer, and
    pickle sends an object it has sent before as a reference (about a third of the bytes and of the time it
    takes the writer to read them)."""
    seen: dict[Any, Any] = {}

    def one(value: Any) -> Any:
        try:
            return seen.setdefault(value, value)
        except TypeError:  # not hashable (a dict or a list): sent as it is
            return value

    for item in items:
        if isinstance(item.raw, dict):
            item.raw = {one(k): one(v) for k, v in item.raw.items()}
        message = item.message
        if message is not None:
            for name in ("channel", "purpose", "send_at", "campaign_id", "product_ids"):
                object.__setattr__(message, name, one(getattr(message, name)))  # frozen; about to be pickled
    return items


def prepare_lines(lines: list[Line], positions: list[int], version: int, now: datetime, key_name: str | None,
                  key_id: int | None) -> tuple[list[GuardError | None], list[_Item | Prepared]]:
    """In a helper: parse a chunk of a stream's lines (read, not parsed; `positions`: their indexes in the
    stream), then `prepare_ahead` the parsed ones.

    Returns each line's parse error (None: parsed) and what was prepared of the parsed lines, in order.
    """
    assert _HELPER is not None, "not a helper process"
    db, versions = _HELPER
    parsed = [parse_line(line) for line in lines]
    good = [(line.value, index) for line, index in zip(parsed, positions, strict=True) if line.error is None]
    entries = prepare_ahead(db, versions(version), [raw for raw, _ in good], [index for _, index in good], key_name,
                            key_id, now, versions)
    _sent_back([entry for entry in entries if isinstance(entry, _Item)])
    return [line.error for line in parsed], entries


def evaluate_raws(raws: list[Any], version: int, now: datetime, key_name: str | None, key_id: int | None,
                  part: int, offset: int) -> list[_Item]:
    """In a helper: `evaluate_ahead` one part of a batch."""
    assert _HELPER is not None, "not a helper process"
    db, versions = _HELPER
    return _sent_back(evaluate_ahead(db, versions(version), raws, key_name, key_id, now, versions, part, offset))
