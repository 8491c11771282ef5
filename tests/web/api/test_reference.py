"""The API reference served by Guard: /openapi.json and /openapi.yaml (valid OpenAPI 3.1, no key, the server
the request came to) and the /docs page with its own assets (no CDN)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from flask import Flask
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from guard.web.shared import openapi
from guard.web.shared.observability import SECURITY_HEADERS
from tests.conftest import ROOT
from tests.web.api.conftest import Api


def _operations(doc: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in doc["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def test_openapi_json_is_valid_openapi_3_1_without_a_key(app: Flask):
    api = Api(app, None)
    response = api.get("/openapi.json")  # the Api client also checks the documented shape of the answer
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1.")
    validate(doc)  # the OpenAPI 3.1 meta-schema, with every $ref resolved
    assert not list(OpenAPIV31SpecValidator(doc).iter_errors())
    assert doc["servers"] == [{"url": "http://localhost", "description": "This Guard"}]


def test_the_served_document_is_api_openapi_yaml_with_the_server_it_was_asked_at(app: Flask):
    source = yaml.safe_load((ROOT / "api" / "openapi.yaml").read_text())
    client = app.test_client()
    served = client.get("/openapi.json", base_url="https://guard.example.com:8443").get_json()
    assert served["servers"] == [{"url": "https://guard.example.com:8443", "description": "This Guard"}]
    assert {**served, "servers": source["servers"]} == source
    behind_a_prefix = client.get("/openapi.json", base_url="http://10.0.0.5/guard").get_json()
    assert behind_a_prefix["servers"][0]["url"] == "http://10.0.0.5/guard"
    assert _operations(served) == _operations(source)
    assert ("/v1/decisions", "post") in _operations(served) and ("/openapi.json", "get") in _operations(served)


def test_openapi_yaml_is_the_same_document(app: Flask):
    client = app.test_client()
    as_yaml = client.get("/openapi.yaml", base_url="http://guard.internal:9090")
    assert as_yaml.status_code == 200 and as_yaml.mimetype == "application/yaml"
    as_json = client.get("/openapi.json", base_url="http://guard.internal:9090")
    assert yaml.safe_load(as_yaml.get_data(as_text=True)) == as_json.get_json()
    validate(yaml.safe_load(as_yaml.get_data(as_text=True)))


def test_the_document_answers_conditional_requests(app: Flask):
    client = app.test_client()
    first = client.get("/openapi.json")
    assert first.headers["ETag"] and first.headers["Cache-Control"] == "no-cache"
    again = client.get("/openapi.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    elsewhere = client.get("/openapi.json", base_url="http://other:1", headers={"If-None-Match": first.headers["ETag"]})
    assert elsewhere.status_code == 200  # another server URL is another document


def test_hosts_chosen_by_callers_keep_a_bounded_cache(app: Flask):
    client = app.test_client()
    one = len(client.get("/openapi.json").get_data())
    for n in range(40):
        host = f"h{n}." + ".".join(["x" * 60] * 5) + ".example"
        answer = client.get("/openapi.json", headers={"Host": host})
        assert answer.get_json()["servers"][0]["url"] == f"http://{host}"
    assert openapi._RENDERED.weight <= 8 * (one + 1000)  # eight renderings at most, whatever was asked


@pytest.mark.parametrize(("host", "server"), [("[::1]:8080", "http://[::1]:8080"), ('a"b', "/"), ("a b", "/"),
                                              ("x/y", "/"), ("\u00e4.example", "/"), ("", "/")])
def test_odd_host_headers_get_a_usable_server(app: Flask, host: str, server: str):
    for fmt in ("json", "yaml"):
        answer = app.test_client().get(f"/openapi.{fmt}", headers={"Host": host})
        assert answer.status_code == 200, (host, answer.get_data(as_text=True)[:300])
        assert yaml.safe_load(answer.get_data(as_text=True))["servers"][0]["url"] == server


def test_docs_page_loads_only_its_own_assets_under_the_common_policy(app: Flask):
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    # No inline code: every script is a file, no element has an event handler attribute.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and not re.search(r"\son[a-z]+\s*=", html)
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    loaded = [u for u in urls if not u.startswith("/openapi.") and not u.startswith("/console")]
    assert loaded and all(u.startswith("/docs/assets/") for u in loaded), urls
    for url in loaded:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/docs/assets/swagger-ui-bundle.js").mimetype in ("text/javascript", "application/javascript")
    assert "SwaggerUIBundle" in client.get("/docs/assets/docs.js").get_data(as_text=True)
    assert 'data-url="/openapi.json"' in html


@pytest.mark.parametrize("name", ["index.html", "swagger-initializer.js", "..%2Fopenapi.yaml", "openapi.yaml",
                                  "swagger-ui-bundle.js.map", "oauth2-redirect.html"])
def test_docs_assets_serve_nothing_else(app: Flask, name: str):
    answer = app.test_client().get(f"/docs/assets/{name}")
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_an_installed_guard_carries_the_document_and_the_page(tmp_path: Path):
    """setuptools' build_py decides what a wheel holds: a real copy of api/openapi.yaml, not a link."""
    pytest.importorskip("setuptools")
    built = tmp_path / "lib"
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
                    "egg_info", "--egg-base", str(tmp_path), "build_py", "--build-lib", str(built)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    copy = built / "guard" / "web" / "shared" / "openapi.yaml"
    assert not copy.is_symlink() and copy.read_bytes() == (ROOT / "api" / "openapi.yaml").read_bytes()
    for name in ("templates/docs.html", "static/docs/docs.js", "static/docs/docs.css"):
        assert (built / "guard" / "web" / "api" / name).is_file(), name


def test_the_loader_reads_the_packaged_file_once():
    assert openapi.DOCUMENT_PATH.read_bytes() == (ROOT / "api" / "openapi.yaml").read_bytes()
    assert openapi.document() is openapi.document()
    assert json.loads(openapi.rendered("http://a", "json"))["paths"] == openapi.document()["paths"]
    assert openapi.rendered("http://a", "json") is openapi.rendered("http://a", "json")  # rendered once
