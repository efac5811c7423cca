"""The WSGI layer around Flask: every request gets an id (echoed, logged, quoted in error bodies), a
bounded body and one JSON access line carrying its metrics (metrics.py), under every worker class.
One WSGI wrapper: cheaper than Flask's hooks, it sees the error handlers' answers and its 413."""

import re
import secrets
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from flask import Flask, Request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from predict_service.errors import BODY_TOO_LARGE, PROBLEM_MIMETYPE, problem_body
from predict_service.jsonlog import REQUEST_ID_KEY, AccessLine
from predict_service.metrics import UNMATCHED_ROUTE, emf_fields

RESPONSE_HEADER = "X-Request-ID"
# Checked in this order: an id the caller chose, then the trace id the ALB adds to every request.
ENVIRON_HEADERS = ("HTTP_X_REQUEST_ID", "HTTP_X_AMZN_TRACE_ID")
# Bounded, in characters that cannot break a log line or a header (an ALB trace id: "Root=1-...").
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:;=+/-]{0,199}")
ROUTE_KEY = "predict_service.route"
# A larger body is refused with a 413 and never read past this (asgi.py reads no further either).
MAX_BODY_BYTES = 64 * 1024


def choose_request_id(environ: dict[str, Any]) -> str:
    for key in ENVIRON_HEADERS:
        value = environ.get(key)
        if value and _SANE_ID.fullmatch(value):
            return value
    return secrets.token_hex(16)


def _path(environ: dict[str, Any]) -> str:
    # PEP 3333 hands the path over as UTF-8 bytes in a latin-1 str: show the real text.
    return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")


class RouteRecordingRequest(Request):
    """Flask's request, keeping the matched route's template in the environ, where the middleware
    reads it once Flask has let go of the request (Flask's own `request_class` extension point)."""

    @property
    def url_rule(self):
        return self.__dict__.get("_url_rule")

    @url_rule.setter
    def url_rule(self, rule) -> None:
        self.__dict__["_url_rule"] = rule
        if rule is not None:
            self.environ[ROUTE_KEY] = rule.rule


class RequestMiddleware:
    def __init__(self, app: Flask, settings: dict[str, Any]):
        self.app, self.wsgi_app = app, app.wsgi_app
        self.log = AccessLine("predict_service.access") if settings["ACCESS_LOG"] else None
        self.service = settings["SERVICE_NAME"] if settings["EMF_METRICS"] else None
        max_age = settings["HSTS_MAX_AGE"]
        self.hsts = [("Strict-Transport-Security", f"max-age={max_age}")] if max_age else []

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = perf_counter()
        request_id = environ[REQUEST_ID_KEY] = choose_request_id(environ)
        added = [(RESPONSE_HEADER, request_id), *self.hsts]
        answer: list[Any] = []

        def recording_start_response(status, headers, exc_info=None):
            headers.extend(added)
            answer[:] = [status, headers]
            return start_response(status, headers, exc_info)

        declared = environ.get("CONTENT_LENGTH")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            # Never handed to Flask. (Gunicorn's own workers leave a chunked body unread on the
            # socket, and Gunicorn discards it before the next request.)
            body = [problem_body(413, BODY_TOO_LARGE, _path(environ), request_id)]
            headers = [("Content-Type", PROBLEM_MIMETYPE), ("Content-Length", str(len(body[0])))]
            recording_start_response("413 Request Entity Too Large", headers)
        else:
            body = self.wsgi_app(environ, recording_start_response)
        if self.log is not None:
            # Every response body here is built before the app returns: the line can go now.
            self._log_access(environ, answer, perf_counter() - started)
        return body

    def _log_access(self, environ: dict[str, Any], answer: list[Any], seconds: float) -> None:
        status_line, headers = answer or ("", [])
        status = int(status_line[:3]) if status_line[:3].isdigit() else None
        length = next((v for k, v in headers if k.lower() == "content-length"), None)
        duration_ms = round(seconds * 1000, 3)
        path, method = _path(environ), environ.get("REQUEST_METHOD")
        fields = {
            "request_id": environ[REQUEST_ID_KEY],
            "method": method,
            "path": path,
            "query": environ.get("QUERY_STRING") or None,
            "status": status,
            "duration_ms": duration_ms,
            "bytes": int(length) if length and length.isdigit() else None,
            # The peer; with the uvicorn worker, the client the ALB saw when the peer is a trusted
            # proxy (FORWARDED_ALLOW_IPS). forwarded_for keeps the whole chain either way.
            "remote_addr": environ.get("REMOTE_ADDR"),
            "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        if self.service is not None:
            fields.update(emf_fields(self.service, self._route(environ), status, duration_ms))
        self.log.write(f"{method} {path} {status}", fields)

    def _route(self, environ: dict[str, Any]) -> str:
        """The matched route's template (a dimension of low cardinality, unlike the path)."""
        if (route := environ.get(ROUTE_KEY)) is not None:
            return route
        # No rule was bound: a 404, a 405, or the 413 above. Match the path alone (errors only).
        adapter = self.app.url_map.bind_to_environ(environ)
        try:
            return adapter.match(return_rule=True)[0].rule
        except MethodNotAllowed as wrong_method:
            method = sorted(wrong_method.valid_methods or ["GET"])[0]
            return adapter.match(method=method, return_rule=True)[0].rule
        except HTTPException:
            return UNMATCHED_ROUTE
