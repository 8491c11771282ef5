"""A small thread-safe least-recently-used map, for caches shared by a worker's threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# Caches keyed by request content default to this many bytes each: callers choose what they send, so a
# count of entries alone would let large distinct requests grow a worker without limit.
DEFAULT_BYTES = 8 * 1024 * 1024
# An entry heavier than this share of the budget is not kept: it would push out many ordinary ones.
LARGEST_SHARE = 64


class Lru(Generic[K, V]):
    """At most `size` entries weighing at most `max_bytes` together (as `weigh` estimates each entry);
    the least recently used ones go first."""

    def __init__(self, size: int, max_bytes: int = DEFAULT_BYTES,
                 weigh: Callable[[K, V], int] | None = None) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._weigh = weigh or _no_weight
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value for `key`, or None."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._items.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        """Remember `value` for `key`, unless it alone weighs too much."""
        weight = self._weigh(key, value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if weight * LARGEST_SHARE > self._max_bytes:
                return
            self._items[key] = (value, weight)
            self._bytes += weight
            while len(self._items) > self._size or self._bytes > self._max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def discard(self, key: K) -> None:
        """Forget `key` if it is held."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]

    @property
    def weight(self) -> int:
        """The estimated bytes held."""
        return self._bytes


def _no_weight(_key: object, _value: object) -> int:
    return 0


def text_weight(key: object, _value: object) -> int:
    """Weight of an entry whose key is a text and whose value holds about as much again (e.g. its parse)."""
    return 2 * len(key) + 200 if isinstance(key, str) else 200
