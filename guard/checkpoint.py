"""SQLite's WAL checkpoints off the request path: a background thread copies committed pages home.

With WAL, a commit only appends pages to the `-wal` file; a checkpoint later copies them into the database
file. By default SQLite runs that checkpoint inside whichever COMMIT pushes the log past 1,000 pages, so
every few hundred decisions one request pays several milliseconds for everybody's writes (the p99). A
server instead turns automatic checkpoints off for its own connections and lets this thread checkpoint
every quarter second: PASSIVE, so it never waits for nor blocks a reader or writer, and with the GIL
released while SQLite copies, so it runs beside the requests. A page rewritten by many commits between
two checkpoints is copied once.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("guard.checkpoint")

INTERVAL = 0.25


class Checkpointer:
    """A daemon thread running `PRAGMA wal_checkpoint(PASSIVE)` on one SQLite file at an interval."""

    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="guard-checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        """Begin checkpointing in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the checkpoint in progress, if any."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        connection: sqlite3.Connection | None = None
        failing = False
        try:
            while not self._stop.wait(self.interval):
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                    failing = False
                except sqlite3.Error as exc:  # busy, or the file vanished: the next turn tries again
                    if not failing:
                        log.warning("checkpoint failed, retrying every %.2f s: %s", self.interval, exc)
                    failing = True
        finally:
            if connection is not None:
                connection.close()
