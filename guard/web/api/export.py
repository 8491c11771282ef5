"""`GET /v1/decisions/export`: the filtered audit log as a CSV or NDJSON download, streamed."""

from __future__ import annotations

from flask import Blueprint, Response

from guard.web.shared.auth import require
from guard.web.shared.downloads import export_response
from guard.web.shared.schemas import DecisionExportQuery, query

bp = Blueprint("export", __name__)


@bp.get("/v1/decisions/export")
@require("read")
def export_decisions() -> Response:
    """Every decision matching the filters of GET /v1/decisions, newest first, as csv or ndjson."""
    params = query(DecisionExportQuery())
    return export_response(params, params.pop("format"))
