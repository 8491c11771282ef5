"""Group commit: work that arrives together on a process's threads is done as one batch.

A decision commits with its audit record under the database's single writer lock, so under load the
requests of a process queue for that lock anyway. Instead of one transaction each, the first request in
becomes the leader: it takes everything queued (itself included) and runs it as one batch, then hands the
lead to the oldest request that arrived meanwhile. Nobody waits for a timer: an idle process runs each
request alone at once, a busy one amortises the transaction over everything that queued during the last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Ticket(Generic[T]):
    """One submitted piece of work, waiting for its batch to run."""

    def __init__(self, work: T) -> None:
        self.work = work
        self.done = threading.Event()
        self.lead = False
        self.error: BaseException | None = None


class Coalescer(Generic[T]):
    """Runs submitted work in batches, one batch at a time."""

    def __init__(self, run_batch: Callable[[list[T]], None], max_batch: int = 256) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Ticket[T]] = []
        self._busy = False

    def submit(self, work: T) -> None:
        """Run `work` in the next batch and return when that batch is done (re-raising its failure)."""
        ticket = _Ticket(work)
        with self._lock:
            self._queue.append(ticket)
            ticket.lead = not self._busy
            self._busy = True
        if not ticket.lead:
            ticket.done.wait()
        if ticket.lead:
            self._lead()
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        """Run one batch (the leader's own work is in it), then pass the lead on or stand down."""
        with self._lock:
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
        try:
            self._run_batch([t.work for t in batch])
        except BaseException as exc:
            for ticket in batch:
                ticket.error = exc
        with self._lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._busy = False
        for ticket in batch:
            ticket.lead = False
            ticket.done.set()
