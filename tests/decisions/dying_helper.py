"""Calls run inside real helper processes by tests/decisions/test_helper_loss.py (spawned helpers import them)."""

from __future__ import annotations

import os
import signal
import struct
import sys
import time
from typing import Any


def start(*_: Any) -> None:
    """A helper's start that sets nothing up."""


def answer_after(seconds: float, answer: str) -> str:
    """Answer after a while (a call still running when another helper dies)."""
    time.sleep(seconds)
    return answer


def die_mid_answer() -> None:
    """Die as SIGKILL would land half-way through sending a large answer: the result pipe's write lock taken,
    the length of a 1 MiB answer and its first bytes written, the rest never."""
    frame = sys._getframe()
    while frame.f_code.co_name != "_process_worker":  # the executor's loop holds the result queue
        assert frame.f_back is not None, "not in a process pool's helper"
        frame = frame.f_back
    results = frame.f_locals["result_queue"]
    results._wlock.acquire()
    os.write(results._writer.fileno(), struct.pack("!i", 1 << 20) + b"\x80" * 100)
    os.kill(os.getpid(), signal.SIGKILL)
