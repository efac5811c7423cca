"""/docs: Swagger UI from the app itself (no CDN), under a strict CSP, switched by API_DOCS."""

import re
from urllib.parse import urljoin

import pytest

from predict_service import create_app
from predict_service.errors import PROBLEM_MIMETYPE


def _page_assets(client) -> list[str]:
    html = client.get("/docs").get_data(as_text=True)
    return [urljoin("/docs", ref) for ref in re.findall(r'(?:src|href)="([^"]+)"', html)]


def test_docs_page_is_html_that_loads_only_this_origin(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assets = _page_assets(client)
    assert assets
    assert all(asset.startswith("/docs/") for asset in assets), assets


def test_every_asset_the_page_names_is_served(client):
    for asset in _page_assets(client):
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.content_length, asset


def test_the_initializer_reads_the_served_document(client):
    script = next(a for a in _page_assets(client) if a.endswith(".js") and "bundle" not in a)
    assert '"/openapi.json"' in client.get(script).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/docs", "/docs/swagger-ui.css"])
def test_head_has_the_get_headers_and_no_body(client, path):
    get, head = client.get(path), client.head(path)
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["Content-Type"] == get.headers["Content-Type"]


@pytest.mark.parametrize("path", ["/docs/nope.js", "/docs/swagger-editor.js", "/docs/..%2fLICENSE"])
def test_a_file_outside_the_page_is_a_problem_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM_MIMETYPE
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"]


def test_wrong_method_is_a_problem_405(client):
    response = client.post("/docs")
    assert response.status_code == 405
    assert response.mimetype == PROBLEM_MIMETYPE
    assert "GET" in response.headers["Allow"]


def test_the_caller_s_request_id_is_echoed(client):
    response = client.get("/docs", headers={"X-Request-ID": "docs-check-1"})
    assert response.headers["X-Request-ID"] == "docs-check-1"


def test_api_docs_off_removes_the_docs_but_not_the_document():
    client = create_app({"TESTING": True, "API_DOCS": "false"}).test_client()
    response = client.get("/docs")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM_MIMETYPE
    assert client.get("/docs/swagger-ui.css").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_the_api_s_own_responses_carry_no_docs_policy(client):
    assert "Content-Security-Policy" not in client.get("/predict").headers
