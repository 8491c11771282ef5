"""`GET /v1/decisions/export`: the filtered audit log as a CSV or NDJSON download, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

from flask import Blueprint, Response

from guard.decisions import export
from guard.http.auth import require
from guard.http.context import current_guard
from guard.http.schemas import DecisionExportQuery, query
from guard.timeutil import utcnow

bp = Blueprint("export", __name__)


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


@bp.get("/v1/decisions/export")
@require("read")
def export_decisions() -> Response:
    """Every decision matching the filters of GET /v1/decisions, newest first, as csv or ndjson."""
    params = query(DecisionExportQuery())
    return export_response(params, params.pop("format"))
