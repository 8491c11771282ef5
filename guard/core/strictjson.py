"""Reading JSON from callers: strictly parsed, storable by every database, and NDJSON line by line within limits.

One parser for every way a request comes in (a body, a line of a stream, a line of an imported file), so
a value refused in one is refused in all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

from guard.core.errors import GuardError, MalformedRequest, PayloadTooLarge, ValidationFailed

# A valid decision request or event is far smaller (a few hundred kB at worst): a longer line is refused.
MAX_LINE_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_SKIP_BYTES = 64 * 1024
_UNSTORABLE = "Text must not contain NUL characters or unpaired surrogates."


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large")
    return value


# One decoder for every call: json.loads with hooks would build a new one each time (most of a line's cost).
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def parse_json(raw: bytes, what: str = "The body") -> Any:
    """Strict JSON: no NaN or Infinity, no numbers that overflow, text that a database can store."""
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedRequest(f"{what} is not valid JSON.", {"reason": _reason(exc)}) from None
    # A NUL or a lone surrogate can only be written as a \u escape (the parser refuses raw control
    # characters, and bytes that are not UTF-8 failed above): text without one needs no walk.
    if b"\\u" in raw and not storable(value):
        raise ValidationFailed(f"{what} holds text no database can store.", {"_schema": [_UNSTORABLE]})
    return value


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        where = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} column {exc.colno}"
        return f"{exc.msg} at {where}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def storable(value: Any) -> bool:
    """Whether every text in a parsed JSON value can be stored by every supported database."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not clean_text(item):
                return False
        elif isinstance(item, dict):
            if not all(clean_text(k) for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def clean_text(text: str) -> bool:
    """No NUL (PostgreSQL refuses it) and no unpaired surrogate (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Readable(Protocol):
    """A binary stream read line by line."""

    def readline(self, size: int = -1, /) -> bytes: ...


class Line(NamedTuple):
    """One non-blank NDJSON line: its number, the bytes it took (blank lines before it included), and its
    value or the error that refused it."""

    number: int
    size: int
    value: Any = None
    error: GuardError | None = None


def ndjson(stream: Readable, max_line_bytes: int = MAX_LINE_BYTES, max_total_bytes: int | None = None,
           parse: bool = True) -> Iterator[Line]:
    """Every non-blank line of an NDJSON stream, parsed by `parse_json`; a bad line is a Line with its error.

    Memory stays bounded: a line longer than `max_line_bytes` is skipped without being held. Past
    `max_total_bytes`, one last Line carries a PayloadTooLarge error and nothing more is read.
    `parse=False`: a line that was read holds its bytes as its value, for `parse_line` elsewhere (a stream
    parses its lines in helper processes).
    """
    total = number = pending = 0
    while raw := stream.readline(max_line_bytes + 1):
        number += 1
        size, too_long = len(raw), len(raw) > max_line_bytes and not raw.endswith(b"\n")
        if too_long:
            size += _skip_line(stream)
        total += size
        if max_total_bytes is not None and total > max_total_bytes:
            yield Line(number, pending + size, error=PayloadTooLarge(
                f"The stream is longer than {max_total_bytes} bytes: line {number} and after were not read.",
                {"line": number, "max_bytes": max_total_bytes}))
            return
        if not too_long and not raw.strip():
            pending += size
            continue
        yield _line(number, pending + size, raw, too_long, max_line_bytes, parse)
        pending = 0


def _skip_line(stream: Readable) -> int:
    """Read past the rest of an overlong line in bounded pieces; the bytes skipped."""
    skipped = 0
    while piece := stream.readline(_SKIP_BYTES):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped


def _line(number: int, size: int, raw: bytes, too_long: bool, max_line_bytes: int, parse: bool = True) -> Line:
    if too_long:
        return Line(number, size, error=PayloadTooLarge(
            f"Line {number} is longer than {max_line_bytes} bytes.", {"line": number, "max_bytes": max_line_bytes}))
    if number == 1:
        raw = raw.removeprefix(_BOM)  # a byte order mark, as some editors write
    line = Line(number, size, raw)
    return parse_line(line) if parse else line


def parse_line(line: Line) -> Line:
    """A line read with `parse=False`, parsed: its value, or the error that refuses it."""
    if line.error is not None or not isinstance(line.value, bytes):
        return line
    try:
        return Line(line.number, line.size, parse_json(line.value, f"Line {line.number}"))
    except GuardError as exc:
        exc.details = {"line": line.number, **exc.details}
        return Line(line.number, line.size, error=exc)
