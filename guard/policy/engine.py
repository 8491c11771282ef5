"""The engine adapter: the only module that imports durable-rules.

It calls the C engine directly (assert the request as a fact, drain the fired actions, retract), because
the Python `Host` runs actions on background threads and can attribute them to the wrong request.
"""

from __future__ import annotations

import itertools
import json
import json.encoder
import math
import threading
from collections.abc import Callable
from typing import Any

import durable_rules_engine as _engine

from guard.core.lru import Lru, text_weight

# durable-rules keeps one state document per session id; one fixed sid avoids the 1,024-sid limit and
# the segfaults of delete_state. The lock serialises requests (the C code never releases the GIL anyway).
_SID = "guard"
_FACT_ID = "request"
_names = itertools.count(1)


class EngineError(Exception):
    """The engine refused a ruleset or a fact; `rules` names the refused rules when known."""

    def __init__(self, message: str, rules: list[str] | None = None) -> None:
        super().__init__(message)
        self.rules = rules or []


_INT64 = 2**63


def encode(value: Any) -> str:
    """JSON text the C engine reads as Python means it; rulesets and facts must both be written by it.

    The engine compares strings as their escaped JSON text, refuses a number with an exponent but no
    decimal point (`1e-05`, Python's repr of 0.00001) and saturates integers beyond 64 bits. So: strings
    are ASCII-escaped (one spelling per string; a lone surrogate cannot break the UTF-8 conversion),
    floats always carry a decimal point, integers beyond 64 bits are sent as floats, and a non-finite
    number is refused.
    """
    if type(value) is dict and _plain_document(value):
        # A flat fact document of texts, in-range integers and lists of them (every request's): the C
        # encoder writes exactly what the branches below would, several times faster.
        return _dumps(value)
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


def _plain_encoder() -> Callable[[dict[str, Any]], str]:
    """The standard library's C encoder, built once, compact, no circular check (flat documents only)."""
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the stubs: CPython's C accelerator
    if make is None:  # a Python without the C accelerator
        return json.JSONEncoder(separators=(",", ":")).encode
    chunks = make(None, None, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda document: "".join(chunks(document, 0))


_dumps = _plain_encoder()
_SCALARS = frozenset({str, bool, type(None)})


def _plain_document(document: dict[Any, Any]) -> bool:
    """True when every key is text and every value `_plain`: the standard encoder then writes `encode`'s text."""
    for key, value in document.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if kind is str or (kind is int and -_INT64 <= value < _INT64):
            continue
        if not _plain(value):
            return False
    return True


def _plain(value: Any) -> bool:
    """True for a value the standard JSON encoder writes as `encode` would: no float, no giant integer."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is int:
        return -_INT64 <= value < _INT64
    if kind is list or kind is tuple:
        return all(type(v) in _SCALARS or (type(v) is int and -_INT64 <= v < _INT64) for v in value)
    return False


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        raise EngineError(f"the engine cannot take the number {value!r}")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


# Limits of one C ruleset, measured on durable-rules 2.0.28: 256 rules segfault the process; an `$or` of
# 512 alternatives never returns; more than 64 alternatives holding at once fail every assert (error 303);
# a rule with many `$or`s is refused (error 113). A ruleset is therefore split into C rulesets of at most
# MAX_ALTERNATIVES alternatives each, and a rule case with more is refused by the loader (with its location).
MAX_ALTERNATIVES = 48


def alternatives(condition: dict[str, Any]) -> int:
    """How many alternatives the engine expands a condition into (`$and` multiplies, `$or` adds)."""
    (key, arg), = condition.items()
    if key == "$and":
        return math.prod(alternatives(c) for c in arg)
    if key == "$or":
        return sum(alternatives(c) for c in arg)
    return 1


def _rule_alternatives(rule: dict[str, Any]) -> int:
    return sum(alternatives(item["m"]) if "m" in item else 1 for item in rule.get("all", [{}]))


def _chunks(definition: dict[str, Any]) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = [{}]
    used = 0
    for name, rule in definition.items():
        size = _rule_alternatives(rule)
        if chunks[-1] and used + size > MAX_ALTERNATIVES:
            chunks.append({})
            used = 0
        chunks[-1][name] = rule
        used += size
    return chunks


# Properties one fact may have, `sid` and `id` included (measured on durable-rules 2.0.28: one more fails
# every assert with error 302). Validation asserts each rule set's largest fact (guard.policy.ruleset).
MAX_PROPERTIES = 254

# Distinct fact documents whose matches each engine remembers.
ANSWERS = 8192


class CompiledEngine:
    """Compiled JSON rules held by durable-rules, evaluated one fact at a time.

    EngineError.rules names the rules the engine refused, when it refused some.
    """

    def __init__(self, definition: dict[str, Any], label: str) -> None:
        self._lock = threading.Lock()
        self._handles: list[int] = []
        self._answers: Lru[str, tuple[str, ...]] = Lru(ANSWERS, weigh=text_weight)
        try:
            for chunk in _chunks(definition):
                self._handles.append(_create(label, chunk))
        except BaseException:
            self._delete_all()
            raise
        self._closed = False

    def matches(self, facts: dict[str, Any]) -> list[str]:
        """Names of every rule whose conditions hold for these facts, each named once.

        The engine expands `$or` into alternatives and fires a rule once per alternative that holds.
        """
        fact = dict(facts, sid=_SID, id=_FACT_ID)
        payload = encode(fact)
        # The answer depends on the facts alone, and customers' facts repeat (a campaign's thousands of
        # open complaints give a handful of distinct documents): remember recent answers.
        known = self._answers.get(payload)
        if known is not None and not self._closed:
            return list(known)
        fired: list[str] = []
        with self._lock:
            if self._closed:
                raise EngineError("this ruleset was closed")
            for handle in self._handles:
                fired.extend(self._matches_one(handle, payload))
        answer = tuple(dict.fromkeys(fired))
        self._answers.put(payload, answer)
        return list(answer)

    def _matches_one(self, handle: int, payload: str) -> list[str]:
        try:
            result = _engine.assert_fact(handle, payload)
        except _engine.error as exc:
            raise EngineError(f"the engine could not evaluate the facts: {exc}") from exc
        try:
            return self._drain(handle, result)
        finally:
            _engine.retract_fact(handle, payload)

    def _drain(self, handle: int, result: tuple[int, int]) -> list[str]:
        status, state_handle = result
        if status != 0:  # 1: no rule matched
            return []
        fired: list[str] = []
        started = _engine.start_action_for_state(handle, state_handle)
        if not started:
            return fired
        message = started[1]
        while True:
            fired.append(_action_name(message))
            message = _engine.complete_and_start_action(handle, state_handle)
            if not message:
                return fired

    def _delete_all(self) -> None:
        for handle in self._handles:
            _engine.delete_ruleset(handle)
        self._handles = []

    def close(self) -> None:
        """Free the C rulesets; callers swap in a new engine first, so no request is in flight here."""
        with self._lock:
            if not self._closed:
                self._delete_all()
                self._closed = True


def _action_name(message: str) -> str:
    """The rule an action message (`{"NAME":{"m":{...the fact...}}}`) is for, without parsing the fact.

    An action is for one rule (durable-rules' own host reads only the first key too). A name the engine
    escaped is read by the JSON parser.
    """
    end = message.find('"', 2)
    name = message[2:end]
    if message.startswith('{"') and end > 2 and "\\" not in name:
        return name
    return next(iter(json.loads(message)))


def _create(label: str, definition: dict[str, Any]) -> int:
    """One C ruleset; when the engine refuses it, find the rules it refuses on their own."""
    try:
        # Ruleset names cannot be registered twice in a process: make each one unique.
        return int(_engine.create_ruleset(f"guard-{label}-{next(_names)}", encode(definition)))
    except _engine.error as exc:
        refused = []
        for name, rule in definition.items():
            try:
                _engine.delete_ruleset(_engine.create_ruleset(f"guard-probe-{next(_names)}", encode({name: rule})))
            except _engine.error:
                refused.append(name)
        raise EngineError(f"the engine refused the compiled rules: {exc}", refused) from exc
