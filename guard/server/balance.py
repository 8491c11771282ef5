"""Spreading connections over gunicorn's workers: a worker holding more than its share stops accepting.

All workers wait on one listening socket and the kernel wakes whichever it likes: with the handful of
keep-alive connections a marketing tool or a load balancer opens, every connection regularly lands on one
worker (measured: 8 of 8), leaving the other cores idle while that worker's threads queue. Each worker
publishes how many connections it holds on a small board in shared memory; one that holds more than one
connection above the least-loaded live worker takes no new connection until the others caught up.
"""

from __future__ import annotations

import multiprocessing
import os
import time

# A worker that has not published for this long is gone (killed, or stuck): it is left out.
STALE_AFTER = 2.0
# How many connections above the least-loaded worker a worker may hold and still accept.
SLACK = 1


class Board:
    """Per-worker connection counts in memory shared by a master and the workers it forks."""

    def __init__(self, slots: int) -> None:
        self.owner = os.getpid()
        self._lock = multiprocessing.Lock()
        self._pids = multiprocessing.RawArray("q", slots)
        self._connections = multiprocessing.RawArray("q", slots)
        self._seen = multiprocessing.RawArray("d", slots)

    def claim(self, pid: int) -> int | None:
        """A slot for this worker (one of a worker that is gone is reused), or None when all are taken."""
        with self._lock:
            now = time.monotonic()
            for slot, holder in enumerate(self._pids):
                if holder == 0 or holder == pid or now - self._seen[slot] > STALE_AFTER:
                    self._pids[slot], self._connections[slot], self._seen[slot] = pid, 0, now
                    return slot
        return None

    def release(self, slot: int) -> None:
        """The worker is leaving: its connections no longer count."""
        self._pids[slot] = 0

    def may_accept(self, slot: int, connections: int) -> bool:
        """Publish this worker's count; True unless it holds more than SLACK above the least-loaded."""
        now = time.monotonic()
        self._connections[slot], self._seen[slot] = connections, now
        others = {i: self._connections[i] for i, pid in enumerate(self._pids)
                  if pid and i != slot and now - self._seen[i] <= STALE_AFTER}
        while others and connections > min(others.values()) + SLACK:
            # Before holding back for a worker that may have been killed (it never cleared its place), ask
            # the kernel: a dead worker's place is cleared at once instead of after STALE_AFTER.
            least = min(others, key=others.__getitem__)
            if _alive(self._pids[least]):
                return False
            self._pids[least] = 0
            del others[least]
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, and somebody else's
    return True
