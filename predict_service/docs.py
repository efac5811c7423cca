"""Interactive API docs at /docs: Swagger UI (from the swagger-ui-bundle-v2 package: no CDN) reading
/openapi.json, under a Content-Security-Policy that lets the page load and call only this origin."""

from flask import Blueprint, Response, abort, send_from_directory
from swagger_ui_bundle import swagger_ui_path

# Only the page's files of the package; init.js is ours, a file rather than an inline script so
# that script-src needs no 'unsafe-inline'.
_ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"}
_INIT_JS = 'SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", validatorUrl: null});\n'
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Predict API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png">
</head><body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
_HEADERS = {  # Swagger UI's icons are data: images
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

bp = Blueprint("docs", __name__)
bp.after_request(lambda response: response.headers.update(_HEADERS) or response)


@bp.get("/docs")
def page() -> Response:
    return Response(_PAGE, mimetype="text/html")


@bp.get("/docs/<filename>")
def asset(filename: str) -> Response:
    if filename == "init.js":
        return Response(_INIT_JS, mimetype="text/javascript")
    if filename not in _ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_path, filename)
