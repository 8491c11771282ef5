"""The OpenAPI description Guard serves: read once from the package, rendered for the URL it is asked at."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from guard.core.lru import Lru

# In a checkout this is a link to api/openapi.yaml (the file people edit); an installed Guard carries a copy.
DOCUMENT_PATH = Path(__file__).parent / "openapi.yaml"
# The server URL comes from the request's Host header, which callers choose: eight renderings are kept, of
# any size up to 1 MiB each (the byte budget only keeps Lru from skipping a large document).
_RENDERED: Lru[tuple[str, str], bytes] = Lru(8, max_bytes=64 * 2**20, weigh=lambda key, value: len(key[0]) + len(value))


@cache
def document() -> dict[str, Any]:
    """The parsed OpenAPI description (treat as read-only: it is shared)."""
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return loaded


def rendered(server_url: str, fmt: str) -> bytes:
    """The description as JSON or YAML, with `server_url` as its only server."""
    key = (server_url, fmt)
    found = _RENDERED.get(key)
    if found is None:
        found = _serialize({**document(), "servers": [{"url": server_url, "description": "This Guard"}]}, fmt)
        _RENDERED.put(key, found)
    return found


def _serialize(doc: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=1).encode()
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120).encode()
