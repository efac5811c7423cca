"""The WSGI-to-ASGI bridge (predict_service/asgi.py), driven with ASGI messages and no server."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import pytest
from flask import request

from predict_service import create_app
from predict_service.asgi import create_asgi_app, wsgi_to_asgi
from predict_service.middleware import MAX_BODY_BYTES


def http_scope(path="/predict", method="GET", query=b"", headers=(), raw_path=None):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path or path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("10.0.0.9", 51000),
        "server": ("127.0.0.1", 8000),
    }


def call(app, scope, body_messages=None):
    """Run one ASGI call; returns (status, headers dict, body, messages the app did not read)."""
    incoming = list(body_messages or [{"type": "http.request", "body": b"", "more_body": False}])
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    if not sent:
        return None, {}, b"", incoming
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body["body"], incoming


@pytest.fixture
def asgi_app():
    return create_asgi_app({"TESTING": True})


def test_predict_through_the_bridge(asgi_app):
    status, headers, body, _ = call(asgi_app, http_scope(headers=[("X-Request-ID", "br-1")]))
    assert (status, json.loads(body)) == (200, {"score": 0.75})
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    assert headers["x-request-id"] == "br-1"


def test_errors_keep_their_json_shape_and_headers(asgi_app):
    status, headers, body, _ = call(asgi_app, http_scope(method="DELETE"))
    assert status == 405
    assert headers["content-type"] == "application/problem+json"
    assert "GET" in headers["allow"]
    assert json.loads(body)["request_id"] == headers["x-request-id"]
    status, _, body, _ = call(asgi_app, http_scope(query=b"colour=blue"))
    assert status == 400
    assert "colour" in json.loads(body)["detail"]


def test_head_has_headers_and_no_body(asgi_app):
    status, headers, body, _ = call(asgi_app, http_scope(method="HEAD"))
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0


def test_environ_is_what_a_wsgi_server_would_pass():
    seen = {}

    def echo(environ, start_response):
        seen.update(environ)
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"a", b"b"]

    scope = http_scope(
        path="/caf\u00e9",
        method="POST",
        query=b"a=1&b=2",
        headers=[
            ("Content-Type", "text/plain"),
            ("Content-Length", "5"),
            ("X-Thing", "one"),
            ("X-Thing", "two"),
        ],
    )
    chunks = [
        {"type": "http.request", "body": b"hel", "more_body": True},
        {"type": "http.request", "body": b"lo", "more_body": False},
    ]
    status, _, body, unread = call(wsgi_to_asgi(echo), scope, chunks)
    assert (status, body, unread) == (200, b"ab", [])
    assert seen["body"] == b"hello"  # chunks joined, nothing lost
    assert seen["PATH_INFO"] == "/caf\u00e9".encode().decode("latin-1")  # PEP 3333 byte-string
    assert seen["QUERY_STRING"] == "a=1&b=2"
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["CONTENT_TYPE"] == "text/plain"
    assert seen["CONTENT_LENGTH"] == "5"
    assert seen["HTTP_X_THING"] == "one,two"
    assert seen["REMOTE_ADDR"] == "10.0.0.9"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["wsgi.multithread"] is False  # inline: one request at a time per process


def test_a_chunked_body_reaches_the_app():
    """No Content-Length: the buffered stream is marked terminated, so Werkzeug reads it."""
    flask_app = create_app({"TESTING": True})

    @flask_app.post("/echo-length")
    def echo_length():
        return {"length": len(request.get_data())}

    chunks = [
        {"type": "http.request", "body": b"hello", "more_body": True},
        {"type": "http.request", "body": b"world", "more_body": False},
    ]
    scope = http_scope("/echo-length", method="POST", headers=[("Transfer-Encoding", "chunked")])
    status, _, body, _ = call(wsgi_to_asgi(flask_app), scope, chunks)
    assert (status, json.loads(body)) == (200, {"length": 10})


def test_header_names_with_underscores_are_dropped(asgi_app):
    """X_Request_ID would be the same environ key as X-Request-ID: dropped, as Gunicorn does."""
    headers = [("X_Request_ID", "smuggled-1"), ("X_Forwarded_For", "6.6.6.6")]
    status, response_headers, _, _ = call(asgi_app, http_scope(headers=headers))
    assert status == 200
    assert response_headers["x-request-id"] != "smuggled-1"
    status, response_headers, _, _ = call(
        asgi_app, http_scope(headers=[*headers, ("X-Request-ID", "kept-1")])
    )
    assert response_headers["x-request-id"] == "kept-1"


def test_start_response_follows_pep_3333():
    """A second call replaces the answer only with exc_info; write()'s data goes before the body."""

    def replaced(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Service Unavailable", [("Retry-After", "1")], sys.exc_info())
        return [b"busy"]

    status, headers, body, _ = call(wsgi_to_asgi(replaced), http_scope())
    assert (status, headers, body) == (503, {"retry-after": "1"}, b"busy")

    def twice(environ, start_response):
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b""]

    status, headers, _, _ = call(wsgi_to_asgi(twice), http_scope())
    assert status == 500  # a programming error: the JSON 500, not whichever call won
    assert headers["content-type"] == "application/problem+json"

    def legacy(environ, start_response):
        write = start_response("200 OK", [])
        write(b"written ")
        return [b"returned"]

    status, _, body, _ = call(wsgi_to_asgi(legacy), http_scope())
    assert (status, body) == (200, b"written returned")

    def fails_after_writing(environ, start_response):
        write = start_response("200 OK", [])
        write(b"partial,row\n")
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())  # re-raises
        return [b"never sent"]

    status, headers, body, _ = call(wsgi_to_asgi(fails_after_writing), http_scope())
    assert status == 500  # the bridge's JSON 500, not a 200 or 500 with half a body
    assert headers["content-type"] == "application/problem+json"
    assert b"partial" not in body


def test_iterable_is_closed():
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("204 No Content", [])
        return Body()

    status, _, body, _ = call(wsgi_to_asgi(app), http_scope())
    assert (status, body, closed) == (204, b"", [True])


def test_declared_oversized_body_is_refused_unread(asgi_app):
    scope = http_scope(method="POST", headers=[("Content-Length", str(MAX_BODY_BYTES + 1))])
    never_read = [{"type": "http.request", "body": b"x" * 10, "more_body": True}]
    status, headers, body, unread = call(asgi_app, scope, never_read)
    assert status == 413
    assert headers["connection"] == "close"  # the rest of the body is still on the socket
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 413
    assert unread == never_read  # nothing was buffered


def test_streamed_oversized_body_is_refused_at_the_limit(asgi_app):
    half = MAX_BODY_BYTES // 2 + 1
    chunks = [{"type": "http.request", "body": b"x" * half, "more_body": True}] * 3
    scope = http_scope(method="POST", headers=[("Transfer-Encoding", "chunked")])
    status, headers, _, unread = call(asgi_app, scope, chunks)
    assert (status, headers["connection"]) == (413, "close")
    assert len(unread) == 1  # stopped reading once over the limit


def test_body_at_the_limit_is_accepted():
    def size(environ, start_response):
        start_response("200 OK", [])
        return [str(len(environ["wsgi.input"].read())).encode()]

    chunk = {"type": "http.request", "body": b"x" * MAX_BODY_BYTES, "more_body": False}
    scope = http_scope(method="POST", headers=[("Content-Length", str(MAX_BODY_BYTES))])
    status, headers, body, _ = call(wsgi_to_asgi(size), scope, [chunk])
    assert (status, body) == (200, str(MAX_BODY_BYTES).encode())
    assert "connection" not in headers


def test_client_gone_before_the_body_is_not_answered():
    def never(environ, start_response):
        raise AssertionError("the app must not run for a client that left")

    gone = [
        {"type": "http.request", "body": b"par", "more_body": True},
        {"type": "http.disconnect"},
    ]
    scope = http_scope(method="POST", headers=[("Transfer-Encoding", "chunked")])
    status, _, _, _ = call(wsgi_to_asgi(never), scope, gone)
    assert status is None


@pytest.mark.parametrize("headers", [[], [("Content-Length", "0")]])
def test_a_request_without_a_body_is_answered_without_waiting_for_one(asgi_app, headers):
    """HTTP framing says there is no body: the bridge does not call receive() at all (a GET
    answered without an extra await; a client that never sends a body cannot stall it)."""
    never_read = [{"type": "http.request", "body": b"", "more_body": False}]
    status, _, _, unread = call(asgi_app, http_scope(headers=headers), never_read)
    assert (status, unread) == (200, never_read)


def test_failure_outside_flask_is_still_problem_json(caplog):
    def broken(environ, start_response):
        raise RuntimeError("bridge-level failure")

    scope = http_scope(headers=[("X-Request-ID", "br-500")])
    with caplog.at_level(logging.ERROR, logger="predict_service.asgi"):
        status, headers, body, _ = call(wsgi_to_asgi(broken), scope)
    assert status == 500
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-request-id"] == "br-500"
    problem = json.loads(body)
    assert problem["request_id"] == "br-500"
    assert "bridge-level failure" not in body.decode()  # no internals to the client
    [record] = caplog.records
    assert record.request_id == "br-500"
    assert "bridge-level failure" in caplog.text  # the traceback goes to the log


def test_bridge_wraps_the_same_app_factory():
    """create_asgi_app passes overrides through to create_app: one app, two server interfaces."""
    asgi = create_asgi_app({"TESTING": True, "PREDICT_SCORE": 0.2})
    _, _, body, _ = call(asgi, http_scope())
    wsgi = create_app({"TESTING": True, "PREDICT_SCORE": 0.2}).test_client().get("/predict")
    assert json.loads(body) == wsgi.json == {"score": 0.2}
