"""Every error is an RFC 9457 problem+json body with the right status: no HTML, no traceback.

The 413 for an oversized body is answered before Flask, by middleware.py, with problem_body()."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from predict_service.jsonlog import REQUEST_ID_KEY

PROBLEM_MIMETYPE = "application/problem+json"
# Headers of an HTTPException worth keeping on the JSON response (e.g. Allow on a 405).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


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
    body = problem_body(status, detail, request.path, request.environ.get(REQUEST_ID_KEY), **extra)
    return Response(body, status=status, mimetype=PROBLEM_MIMETYPE)


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
