"""Interactive API docs at /docs: Swagger UI reading /openapi.json, every file served by the app.

The UI's files come from the swagger-ui-py package (no CDN: the page works offline), and a
Content-Security-Policy lets the page load and call nothing but this origin.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Response, abort, send_from_directory

DOCS_PATH = "/docs"
_STATIC = Path(swagger_ui.__file__).parent / "static"
# The package also ships Swagger Editor; only these files of its folder are served.
_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
# A file of its own rather than an inline script, so script-src needs no 'unsafe-inline'.
_INITIALIZER = "init.js"
_INIT_JS = (
    'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", '
    "validatorUrl: null, deepLinking: true});\n"  # validatorUrl: the default calls a third party
)
_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Predict API</title>
<link rel="stylesheet" href="{DOCS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="{DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/{_INITIALIZER}"></script></body></html>
"""
# Swagger UI's icons are data: images; its styles are all in swagger-ui.css.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

bp = Blueprint("docs", __name__)


@bp.after_request
def _lock_down(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get(DOCS_PATH)
def page() -> Response:
    return Response(_PAGE, mimetype="text/html")


@bp.get(f"{DOCS_PATH}/<filename>")
def asset(filename: str) -> Response:
    if filename == _INITIALIZER:
        return Response(_INIT_JS, mimetype="text/javascript")
    if filename not in _ASSETS:
        abort(404)
    return send_from_directory(_STATIC, filename)
