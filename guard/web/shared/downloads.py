"""Downloads of the audit log that the API and the console both serve: streamed, named, never cached."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from flask import Response

from guard.core.timeutil import utcnow
from guard.decisions import export
from guard.web.shared.context import current_guard


def export_response(filters: dict[str, Any], fmt: str) -> Response:
    """A streamed download of the decisions matching `filters`; rows are read page by page as it is sent."""
    name = export.filename(fmt, utcnow().strftime("%Y%m%dT%H%M%SZ"))
    response = Response(_started(export.lines(current_guard().db, filters, fmt)), content_type=export.FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _started(lines: Iterator[str]) -> Iterator[str]:
    """The stream with its first chunk already read, so a database failure is still an error answer."""
    first = next(lines, "")
    return chain([first], lines)
