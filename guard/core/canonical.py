"""Canonical JSON and its hash: how Guard recognises a repeated request or event."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from guard.core.timeutil import iso


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, times in UTC: equal content gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default, ensure_ascii=False)


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()
