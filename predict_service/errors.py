"""Every error is an RFC 9457 problem+json body with the right status: no HTML, no traceback.
Each detail a client can read is written here once; the OpenAPI examples (openapi.py) quote them."""

from typing import Any

import orjson
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from predict_service.jsonlog import REQUEST_ID_KEY

PROBLEM_MIMETYPE = "application/problem+json"
INTERNAL_ERROR = "The server failed to handle this request; quote the request_id when reporting it."
BODY_TOO_LARGE = "The request body is larger than this API accepts."
INVALID_QUERY = "Invalid query parameter value(s)."
# Headers of an HTTPException worth keeping on the JSON response (e.g. Allow on a 405).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def unknown_query(names: list[str]) -> str:
    return f"Unknown query parameter(s): {', '.join(names)}."


class InputError(Exception):
    """Input that failed validation: 400 if malformed or unknown, 422 if well-formed but refused."""

    def __init__(self, status: int, detail: str, errors: dict[str, list[str]]):
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors


def problem_body(status: int, detail: str, instance: str, request_id: str | None, **extra) -> bytes:
    title = HTTP_STATUS_CODES.get(status, "Error")
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return orjson.dumps({**body, "instance": instance, "request_id": request_id, **extra})


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
        return problem(500, INTERNAL_ERROR)
