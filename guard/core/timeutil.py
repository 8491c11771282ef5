"""Time helpers: Guard stores and compares aware UTC datetimes only."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values (as SQLite returns them) are taken to be UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z, as every Guard response writes times."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


def age_phrase(seconds: int) -> str:
    """An age as a person says it: "1 day", "3 days", "5 hours", "less than an hour" (for explanations)."""
    days, hours = seconds // 86400, seconds // 3600
    if days:
        return f"{days} day" if days == 1 else f"{days} days"
    if hours:
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return "less than an hour"
