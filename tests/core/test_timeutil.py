"""Times as Guard writes them for machines (ISO-8601, Z) and for people (an age in words)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from guard.core.timeutil import age_phrase, as_utc, iso


@pytest.mark.parametrize(("age", "said"), [
    (timedelta(0), "less than an hour"),
    (timedelta(minutes=59, seconds=59), "less than an hour"),
    (timedelta(hours=1), "1 hour"),
    (timedelta(hours=23, minutes=59), "23 hours"),
    (timedelta(days=1), "1 day"),
    (timedelta(days=1, hours=23), "1 day"),
    (timedelta(days=2), "2 days"),
    (timedelta(days=400), "400 days"),
])
def test_an_age_in_words(age: timedelta, said: str):
    assert age_phrase(int(age.total_seconds())) == said


def test_times_are_written_in_utc_with_a_z():
    paris = timezone(timedelta(hours=1))
    assert iso(datetime(2026, 3, 1, 13, 30, tzinfo=paris)) == "2026-03-01T12:30:00Z"
    assert as_utc(datetime(2026, 3, 1, 12, 30)) == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert iso(None) is None
