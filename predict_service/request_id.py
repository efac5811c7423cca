"""One id per request: taken from the caller or the ALB when it looks sane, generated otherwise.

The id is echoed in the X-Request-ID response header, carried by every log line of the request
(see jsonlog.py) and quoted in every error body, so a user's report leads straight to the logs.

A WSGI middleware rather than Flask before/after_request hooks: Flask's hook dispatch cost ~10 µs a
hook a request here, more than the rest of this module's work (bench/README.md).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from flask import has_request_context, request

RESPONSE_HEADER = "X-Request-ID"
# Checked in this order: an id the caller chose, then the trace id the ALB adds to every request.
INCOMING_HEADERS = ("X-Request-ID", "X-Amzn-Trace-Id")
# Where the app finds the id: in the WSGI environ, so it exists before Flask sees the request.
ENVIRON_KEY = "predict_service.request_id"
# Bounded and limited to characters that cannot break a log line or a header
# (an ALB trace id looks like "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:;=+/-]{0,199}")
_ENVIRON_HEADERS = tuple("HTTP_" + name.upper().replace("-", "_") for name in INCOMING_HEADERS)


def _first_sane(candidates: Iterable[str | None]) -> str:
    for value in candidates:
        if value and _SANE_ID.fullmatch(value):
            return value
    # 128 random bits as 32 hex digits: uuid4().hex without building a UUID object (1/4 the cost).
    return secrets.token_hex(16)


def choose_request_id(headers) -> str:
    """The id for a request with these headers (any mapping with .get by header name)."""
    return _first_sane(headers.get(name) for name in INCOMING_HEADERS)


def current_request_id() -> str | None:
    return request.environ.get(ENVIRON_KEY) if has_request_context() else None


class RequestId:
    """WSGI middleware: chooses the id before the app runs and echoes it on every response."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        request_id = _first_sane(environ.get(key) for key in _ENVIRON_HEADERS)
        environ[ENVIRON_KEY] = request_id

        def echoing_start_response(status, headers, exc_info=None):
            headers.append((RESPONSE_HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, echoing_start_response)
