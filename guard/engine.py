"""The engine adapter: the only module that imports durable-rules.

It calls the C engine directly (assert the request as a fact, drain the fired actions, retract), because
the Python `Host` runs actions on background threads and can attribute them to the wrong request.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from typing import Any

import durable_rules_engine as _engine

# durable-rules keeps one state document per session id; one fixed sid avoids the 1,024-sid limit and
# the segfaults of delete_state. The lock serialises requests (the C code never releases the GIL anyway).
_SID = "guard"
_FACT_ID = "request"
_names = itertools.count(1)


class EngineError(Exception):
    """The engine refused a ruleset or a fact."""


_INT64 = 2**63


def encode(value: Any) -> str:
    """JSON text the C engine reads as Python means it; rulesets and facts must both be written by it.

    The engine compares strings as their escaped JSON text, refuses a number with an exponent but no
    decimal point (`1e-05`, Python's repr of 0.00001) and saturates integers beyond 64 bits. So: strings
    are ASCII-escaped (one spelling per string; a lone surrogate cannot break the UTF-8 conversion),
    floats always carry a decimal point, integers beyond 64 bits are sent as floats, and a non-finite
    number is refused.
    """
    if isinstance(value, str):
        return json.dumps(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return str(value)
        try:
            return _float_text(float(value))
        except OverflowError:
            raise EngineError("the engine cannot take an integer this large") from None
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    raise EngineError(f"the engine cannot take a {type(value).__name__}")


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        raise EngineError(f"the engine cannot take the number {value!r}")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


class CompiledEngine:
    """A durable-rules ruleset built from compiled JSON, evaluated one fact at a time."""

    def __init__(self, definition: dict[str, Any], label: str) -> None:
        self._lock = threading.Lock()
        # Ruleset names cannot be registered twice in a process: make each one unique.
        self.name = f"guard-{label}-{next(_names)}"
        try:
            self._handle = _engine.create_ruleset(self.name, encode(definition))
        except _engine.error as exc:  # type: ignore[attr-defined]
            raise EngineError(f"the engine refused the compiled rules: {exc}") from exc
        self._closed = False

    def matches(self, facts: dict[str, Any]) -> list[str]:
        """Names of every rule whose conditions hold for these facts, each named once.

        The engine expands `$or` into alternatives and fires a rule once per alternative that holds.
        """
        fact = dict(facts, sid=_SID, id=_FACT_ID)
        payload = encode(fact)
        with self._lock:
            if self._closed:
                raise EngineError("this ruleset was closed")
            result = _engine.assert_fact(self._handle, payload)
            try:
                return list(dict.fromkeys(self._drain(result)))
            finally:
                _engine.retract_fact(self._handle, payload)

    def _drain(self, result: tuple[int, int]) -> list[str]:
        status, state_handle = result
        if status != 0:  # 1: no rule matched
            return []
        fired: list[str] = []
        started = _engine.start_action_for_state(self._handle, state_handle)
        if not started:
            return fired
        message = json.loads(started[1])
        while True:
            fired.extend(message.keys())
            following = _engine.complete_and_start_action(self._handle, state_handle)
            if not following:
                return fired
            message = json.loads(following)

    def close(self) -> None:
        """Free the C ruleset; callers swap in a new engine first, so no request is in flight here."""
        with self._lock:
            if not self._closed:
                _engine.delete_ruleset(self._handle)
                self._closed = True
