"""`/v1/decisions/batch` and `/v1/decisions/stream`: screening many sends in one call."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.wsgi import get_input_stream

from guard.core import metrics
from guard.core.errors import PayloadTooLarge, UnsupportedMediaType
from guard.core.strictjson import ndjson
from guard.decisions.campaign import decide_requests, screen_stream
from guard.decisions.service import ANSWER_LINE, Prepared
from guard.web.shared.auth import key_id, key_name, require
from guard.web.shared.body import json_body, no_idempotency_header
from guard.web.shared.context import current_guard

bp = Blueprint("campaigns", __name__)

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")
SPOOL_BYTES = 8 * 1024 * 1024
READ_BYTES = 64 * 1024
WRITE_EVERY = 1000


@bp.post("/v1/decisions/batch")
@require("decide")
def batch() -> Response:
    """Up to 10,000 decisions in input order, each audited; a bad item gets its own error."""
    guard = current_guard()
    no_idempotency_header("idempotency_key")
    answer = decide_requests(guard.db, guard.evaluator, json_body(), key_name(), guard.rules.version, key_id(),
                             guard.helpers)
    metrics.count_decisions(answer["results"])
    return jsonify(answer)


@bp.post("/v1/decisions/stream")
@require("decide")
def stream() -> Response:
    """An NDJSON stream of requests of any length in, one NDJSON result per line out, in order."""
    if request.mimetype not in NDJSON_TYPES:
        raise UnsupportedMediaType("Send NDJSON with Content-Type: application/x-ndjson.",
                                   {"content_type": request.content_type})
    no_idempotency_header("idempotency_key")
    guard = current_guard()
    limit = guard.settings.max_stream_bytes
    if request.content_length is not None and request.content_length > limit:
        # Known in advance: refused before anything is decided. A chunked stream ends at the limit instead.
        raise PayloadTooLarge(f"The stream is longer than {limit} bytes (GUARD_MAX_STREAM_BYTES).",
                              {"max_bytes": limit})
    # The whole input is read before any output is written: a client that sends everything before it
    # reads would otherwise deadlock against full socket buffers. Results wait in a spooled file, so
    # memory stays bounded whatever the campaign's size.
    # Lines are parsed where they are decided: by helper processes when the stream is spread over them.
    lines = ndjson(get_input_stream(request.environ, max_content_length=None), max_total_bytes=limit, parse=False)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by _drain
    done: list[dict[str, Any] | Prepared] = []
    for result in screen_stream(guard.db, lambda: guard.evaluator, lines, key_name(), key_id=key_id(),
                                helpers=guard.helpers):
        done.append(result)
        if len(done) >= WRITE_EVERY:
            _spool(spool, done)
    _spool(spool, done)
    spool.seek(0)
    return Response(_drain(spool), mimetype="application/x-ndjson")


def _spool(spool: tempfile.SpooledTemporaryFile[bytes], results: list[dict[str, Any] | Prepared]) -> None:
    """Write results as NDJSON lines and count them (one write and one metrics update per block); a decision
    prepared by a helper process comes with its line encoded."""
    if results:
        spool.write(b"".join(r.line if isinstance(r, Prepared) else f"{ANSWER_LINE(r)}\n".encode() for r in results))
        metrics.count_decisions(r for r in results if not isinstance(r, Prepared))
        metrics.count_outcomes(Counter(r.counted for r in results if isinstance(r, Prepared)))
        results.clear()


def _drain(spool: tempfile.SpooledTemporaryFile[bytes]) -> Iterator[bytes]:
    try:
        while block := spool.read(READ_BYTES):
            yield block
    finally:
        spool.close()
