"""One id per request: taken from the caller or the ALB when it looks sane, generated otherwise.

The id is echoed in the X-Request-ID response header, carried by every log line of the request
(see jsonlog.py) and quoted in every error body, so a user's report leads straight to the logs.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

RESPONSE_HEADER = "X-Request-ID"
# Checked in this order: an id the caller chose, then the trace id the ALB adds to every request.
INCOMING_HEADERS = ("X-Request-ID", "X-Amzn-Trace-Id")
# Bounded and limited to characters that cannot break a log line or a header
# (an ALB trace id looks like "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:;=+/-]{0,199}")


def choose_request_id(headers) -> str:
    for name in INCOMING_HEADERS:
        value = headers.get(name)
        if value and _SANE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return g.get("request_id")


def init_app(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        g.request_id = choose_request_id(request.headers)

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[RESPONSE_HEADER] = request_id
        return response
