"""Helpers for the vendor mapping tests: fixtures read as raw bytes and checked against Guard's event schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guard.situation.schemas import EventSchema

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(vendor: str, name: str) -> bytes:
    """A vendor's published sample body, byte for byte."""
    return (FIXTURES / vendor / name).read_bytes()


def assert_guard_events(events: tuple[dict[str, Any], ...]) -> None:
    """Every mapped event is accepted by POST /v1/events' schema (a resolved customer filled in where needed)."""
    assert events
    for event in events:
        filled = {**event, "customer_id": event["customer_id"] or "resolved-from-order"}
        errors = EventSchema().validate(filled)
        assert errors == {}, (event, errors)


@pytest.fixture
def secret() -> str:
    """A test webhook secret."""
    return "guard-test-secret-0123456789"
