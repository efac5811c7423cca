"""Every error is an RFC 9457 problem+json body with the right status: no HTML, no traceback."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from predict_service.request_id import ENVIRON_KEY as REQUEST_ID_KEY
from predict_service.request_id import current_request_id

PROBLEM_MIMETYPE = "application/problem+json"
# Headers of an HTTPException worth keeping on the JSON response (e.g. Allow on a 405).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
# /predict and /health take no body: a larger one gets a 413 (RefuseOversizedBody).
MAX_BODY_BYTES = 64 * 1024
# Set in the WSGI environ by the server bridge (asgi.py) when it refused to buffer the body.
BODY_TOO_LARGE = "predict_service.body_too_large"


class InputError(Exception):
    """Request input that failed validation: 400 when it is malformed or unknown, 422 when
    well-formed but unacceptable."""

    def __init__(self, status: int, detail: str, errors: dict[str, list[str]]):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


def problem_body(status: int, detail: str, instance: str, request_id: str | None, **extra) -> bytes:
    body = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
        **extra,
    }
    return json.dumps(body).encode()


def problem(status: int, detail: str, **extra: Any) -> Response:
    body = problem_body(status, detail, request.path, current_request_id(), **extra)
    return Response(body, status=status, mimetype=PROBLEM_MIMETYPE)


class RefuseOversizedBody:
    """WSGI middleware: a body over MAX_BODY_BYTES gets its 413 here, before Flask (a Flask
    before_request hook would cost every request ~7 µs; this costs two dict lookups).

    Over the limit: a body the uvicorn bridge would not buffer (declared or streamed), or under any
    worker class a declared Content-Length. (Gunicorn's own workers buffer nothing: a chunked body
    stays unread on the socket, and Gunicorn discards it before the next request.)"""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        declared = environ.get("CONTENT_LENGTH")
        over = declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES
        if not (over or environ.get(BODY_TOO_LARGE)):
            return self.wsgi_app(environ, start_response)
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        body = problem_body(
            413,
            "The request body is larger than this API accepts.",
            path,
            environ.get(REQUEST_ID_KEY),
        )
        headers = [("Content-Type", PROBLEM_MIMETYPE), ("Content-Length", str(len(body)))]
        start_response("413 Request Entity Too Large", headers)
        return [body]


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = problem(error.code or 500, error.description or "")
        for name, value in error.get_headers():
            if name in _KEPT_HEADERS:
                response.headers[name] = value
        return response

    @app.errorhandler(InputError)
    def input_error(error: InputError) -> Response:
        return problem(error.status, error.detail, errors=error.errors)

    @app.errorhandler(Exception)
    def unhandled_error(error: Exception) -> Response:
        # The traceback goes to the log (with the request id); the client gets only the id to quote.
        current_app.logger.exception("unhandled error")
        return problem(
            500, "The server failed to handle this request; quote the request_id when reporting it."
        )
