"""The engine adapter: the only module that imports durable-rules.

It calls the C engine directly (assert the request as a fact, drain the fired actions, retract), because
the Python `Host` runs actions on background threads and can attribute them to the wrong request.
"""

from __future__ import annotations

import itertools
import json
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


class CompiledEngine:
    """A durable-rules ruleset built from compiled JSON, evaluated one fact at a time."""

    def __init__(self, definition: dict[str, Any], label: str) -> None:
        self._lock = threading.Lock()
        # Ruleset names cannot be registered twice in a process: make each one unique.
        self.name = f"guard-{label}-{next(_names)}"
        try:
            self._handle = _engine.create_ruleset(self.name, json.dumps(definition, ensure_ascii=False))
        except _engine.error as exc:  # type: ignore[attr-defined]
            raise EngineError(f"the engine refused the compiled rules: {exc}") from exc
        self._closed = False

    def matches(self, facts: dict[str, Any]) -> list[str]:
        """Names of every rule whose conditions hold for these facts (each fires once)."""
        fact = dict(facts, sid=_SID, id=_FACT_ID)
        payload = json.dumps(fact, ensure_ascii=False)
        with self._lock:
            if self._closed:
                raise EngineError("this ruleset was closed")
            result = _engine.assert_fact(self._handle, payload)
            try:
                return self._drain(result)
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
