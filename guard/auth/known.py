"""Verified API keys remembered by one process for at most a second, so a request rarely reads api_keys.

A revocation spreads as a rule activation does (guard/lifecycle/active.py): no process is told, each one
looks at the database again once what it knows is older than the interval. An entry is stamped with the
time its read *started*, so a revocation committed at time r is seen by every read that starts after r,
and no process trusts an earlier read after r + FRESH_FOR: every request that arrives a second after a
revocation committed is refused on every worker, whatever it had remembered.

Refusals are remembered too, apart from acceptances (garbage tokens cannot push good keys out): a revoked
key for good, since a revocation is final; an unknown token for the same second. Hammering with a revoked
or made-up key then costs a hash and a dictionary look-up instead of a database read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from guard.auth.keys import Caller, Rejected, lookup
from guard.core.errors import Unauthenticated
from guard.core.lru import Lru
from guard.storage.database import Database

# How long a process trusts what it read of a key: the longest a revocation takes to be seen everywhere.
FRESH_FOR = 1.0
KEYS = 4096  # distinct keys remembered per process (each ~0.5 KB): far more than a deployment's callers
KEY_BYTES = 2 * 1024 * 1024
REFUSALS = 4096
REFUSAL_BYTES = 1024 * 1024
_FOREVER = float("inf")


def _caller_weight(digest: str, entry: tuple[Caller, float]) -> int:
    caller = entry[0]
    return len(digest) + 2 * len(caller.name) + 64 * len(caller.scope_set) + 300


def _refusal_weight(digest: str, _entry: float) -> int:
    return len(digest) + 150


class KnownKeys:
    """The keys one process verified lately, and the tokens it refused lately."""

    def __init__(self, db: Database, fresh_for: float = FRESH_FOR,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._fresh_for = fresh_for
        self._clock = clock
        self._accepted: Lru[str, tuple[Caller, float]] = Lru(KEYS, KEY_BYTES, _caller_weight)
        self._refused: Lru[str, float] = Lru(REFUSALS, REFUSAL_BYTES, _refusal_weight)

    def identify(self, digest: str) -> Caller:
        """The caller whose key hashes to `digest`, from memory while fresh; else read; or Unauthenticated."""
        now = self._clock()
        known = self._accepted.get(digest)
        if known is not None and now - known[1] < self._fresh_for:
            return known[0]
        refused_until = self._refused.get(digest)
        if refused_until is not None and now < refused_until:
            raise Unauthenticated("This API key is not valid.")
        return self._read(digest, now)

    @property
    def weight(self) -> int:
        """The estimated bytes held (bounded by KEY_BYTES + REFUSAL_BYTES)."""
        return self._accepted.weight + self._refused.weight

    def _read(self, digest: str, started: float) -> Caller:
        try:
            with self._db.raw_reads() as sql:
                caller = lookup(sql, digest)
        except Rejected as refusal:
            self._accepted.discard(digest)
            self._refused.put(digest, _FOREVER if refusal.revoked else started + self._fresh_for)
            raise Unauthenticated("This API key is not valid.") from None
        self._accepted.put(digest, (caller, started))
        return caller


_KNOWN: WeakKeyDictionary[Database, KnownKeys] = WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def known_keys(db: Database) -> KnownKeys:
    """This process's memory of the keys of `db`."""
    with _KNOWN_LOCK:
        known = _KNOWN.get(db)
        if known is None:
            known = _KNOWN[db] = KnownKeys(db)
        return known
