"""Decision ids: UUIDv7 (RFC 9562), random but ordered by time.

A random UUIDv4 lands anywhere in the unique index on decision_id (and the audit chain's index on ref), so
at millions of decisions every insert touches a cold index page; time-ordered ids append to the end.
"""

from __future__ import annotations

import os
import time

_VERSION = 0x7 << 76
_VARIANT = 0x2 << 62
_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)


def decision_ids(count: int) -> list[str]:
    """`count` new UUIDv7 strings."""
    stamp = (time.time_ns() // 1_000_000) << 80
    noise = os.urandom(10 * count)
    out = []
    for start in range(0, 10 * count, 10):
        value = ((stamp | int.from_bytes(noise[start:start + 10], "big")) & _KEEP) | _VERSION | _VARIANT
        text = f"{value:032x}"
        out.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
    return out
