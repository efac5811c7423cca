"""One JSON access line a request, written by the app itself.

In the app rather than in the server, so the line is the same under every worker class (the uvicorn
worker has no access log of its own that knows the request id) and in the Flask test client. A WSGI
middleware rather than a Flask hook, so it also sees the responses of the error handlers.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import Any

from predict_service.jsonlog import info_with_fields

ACCESS_LOGGER = "predict_service.access"
_log = logging.getLogger(ACCESS_LOGGER)
# ACCESS_LOG switches the line, not LOG_LEVEL: LOG_LEVEL=WARNING must not lose the request record.
_log.setLevel(logging.INFO)


class AccessLog:
    """WSGI middleware: logs method, path, status, request id and duration once the app answered.

    The duration covers the app (routing, validation, the view, the error handlers), not the
    server's parsing and writing. The body of every response here is built before the app returns,
    so the line is written as soon as the app returns.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response):
        started = perf_counter()
        answer: list[Any] = []

        def recording_start_response(status, headers, exc_info=None):
            answer[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, recording_start_response)
        if _log.isEnabledFor(logging.INFO):
            fields = _access_fields(environ, answer, perf_counter() - started)
            message = f"{fields['method']} {fields['path']} {fields['status']}"
            info_with_fields(_log, message, fields)
        return body


def _access_fields(environ: dict[str, Any], answer: list[Any], seconds: float) -> dict[str, Any]:
    status_line, headers = answer if answer else ("", [])
    status = int(status_line[:3]) if status_line[:3].isdigit() else None
    request_id = length = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == "x-request-id":
            request_id = value
        elif lowered == "content-length":
            length = int(value) if value.isdigit() else None
    # PEP 3333 hands the path over as UTF-8 bytes in a latin-1 str: the line shows the real text.
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    return {
        "request_id": request_id,
        "method": environ.get("REQUEST_METHOD"),
        "path": path,
        "query": environ.get("QUERY_STRING") or None,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "bytes": length,
        # The peer; with the uvicorn worker, the client the ALB saw when the peer is a trusted
        # proxy (FORWARDED_ALLOW_IPS). forwarded_for keeps the whole chain either way.
        "remote_addr": environ.get("REMOTE_ADDR"),
        "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
        "user_agent": environ.get("HTTP_USER_AGENT"),
    }
