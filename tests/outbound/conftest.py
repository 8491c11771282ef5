"""Fixtures: a real HTTP receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.outbound.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver answering 200 to everything (change `receiver.answer` to script failures)."""
    started = Receiver().start()
    yield started
    started.stop()
