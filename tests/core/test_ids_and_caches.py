"""Time-ordered decision ids and the byte-bounded LRU."""

from __future__ import annotations

import time
import uuid

from guard.core.ids import decision_ids
from guard.core.lru import Lru, text_weight


def test_decision_ids_are_uuid7_and_ordered_by_time():
    first = decision_ids(3)
    time.sleep(0.002)
    later = decision_ids(3)
    for text in first + later:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert max(first) < min(later)
    assert len(set(decision_ids(10_000))) == 10_000
    stamp_ms = int(first[0].replace("-", "")[:12], 16)
    assert abs(stamp_ms / 1000 - time.time()) < 5


def test_lru_forgets_the_least_recently_used():
    lru: Lru[str, int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3)
    assert lru.get("b") is None and lru.get("a") == 1 and lru.get("c") == 3


def test_lru_keyed_by_text_stays_within_its_bytes():
    lru: Lru[str, int] = Lru(1000, max_bytes=64_000, weigh=text_weight)
    for i in range(500):
        lru.put(f"{i:04d}".ljust(400, "x"), i)  # 1,000 bytes each by text_weight
    assert lru.weight <= 64_000
    assert lru.get(f"{499:04d}".ljust(400, "x")) == 499 and lru.get(f"{0:04d}".ljust(400, "x")) is None
    lru.put("y" * 600, 1)  # alone more than 1/64 of the budget: not kept, pushes nothing out
    assert lru.get("y" * 600) is None and lru.get(f"{499:04d}".ljust(400, "x")) == 499
