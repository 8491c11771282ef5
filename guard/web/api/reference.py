"""The API reference, no key needed: the OpenAPI description (JSON or YAML) and the page at /docs that renders it."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from guard.core.errors import NotFound
from guard.web.shared.openapi import rendered

bp = Blueprint("reference", __name__, template_folder="templates")

MEDIA_TYPES = {"json": "application/json", "yaml": "application/yaml; charset=utf-8"}
SWAGGER_UI = Path(str(swagger_ui_path))
OWN = Path(__file__).resolve().parent / "static" / "docs"
# Everything /docs loads, all from Guard itself (the page works offline); nothing else in those folders is served.
ASSETS = {
    "swagger-ui.css": SWAGGER_UI,
    "swagger-ui-bundle.js": SWAGGER_UI,
    "favicon-32x32.png": SWAGGER_UI,
    "docs.js": OWN,
    "docs.css": OWN,
}


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 description as JSON, its server the URL this request came to."""
    return _document("json")


@bp.get("/openapi.yaml")
def openapi_yaml() -> Response:
    """The OpenAPI 3.1 description as YAML, its server the URL this request came to."""
    return _document("yaml")


def _document(fmt: str) -> Response:
    # A Host header werkzeug cannot use leaves no host: then the server is relative to the document itself.
    server = request.url_root.rstrip("/") if request.host else request.script_root or "/"
    response = Response(rendered(server, fmt), content_type=MEDIA_TYPES[fmt],
                        headers={"Cache-Control": "no-cache"})
    response.add_etag()
    response.make_conditional(request)  # 304 to a caller that has this very document
    return response


@bp.get("/docs")
def docs() -> Response:
    """The interactive API reference (Swagger UI runs under the same Content-Security-Policy as every page:
    scripts from Guard only, no inline code)."""
    return Response(render_template("docs.html"), content_type="text/html; charset=utf-8")


@bp.get("/docs/assets/<asset>")
def assets(asset: str) -> Response:
    """One of the files the reference page loads."""
    folder = ASSETS.get(asset)
    if folder is None:
        raise NotFound(f"No asset {asset!r}.")
    return send_from_directory(folder, asset)
