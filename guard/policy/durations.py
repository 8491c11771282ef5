"""Durations as admins write them (`30d`, `12h`, `1d12h`, `2w`) and clock times (`21:00`)."""

from __future__ import annotations

import re

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d{1,5}[wdhms])+$")
_PART = re.compile(r"(\d{1,5})([wdhms])")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# Windows, ages and offsets reach date arithmetic (a time minus a duration): bounded so it never overflows.
MAX_DURATION = 100 * 365 * 86400


def parse_duration(text: object) -> int:
    """Seconds in a duration like `3d` or `1d12h`; ValueError when it is not one."""
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration (write e.g. 30d, 12h, 90m, 2w or 1d12h)")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    if seconds > MAX_DURATION:
        raise ValueError(f"{text[:40]!r} is longer than {MAX_DURATION // 86400}d (100 years)")
    return seconds


def parse_clock(text: str) -> int:
    """Minutes after midnight of a clock time `HH:MM`; ValueError when it is not one."""
    match = _CLOCK.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a time of day (write HH:MM, e.g. 21:00)")
    return int(match.group(1)) * 60 + int(match.group(2))


def format_duration(seconds: int) -> str:
    """The shortest admin-style spelling of a duration."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
