"""The Flask app on an asyncio server: each request's WSGI call runs inline, on the event loop.
By hand because every maintained WSGI-to-ASGI adapter (a2wsgi, asgiref, uvicorn's) hands requests
to a thread pool, costing more server CPU than Flask itself (bench/README.md); only a2wsgi's
scope-to-environ mapping is borrowed. Blocking I/O belongs under gthread (docs/design.md)."""

import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from a2wsgi.wsgi import build_environ

from predict_service import create_app
from predict_service.errors import INTERNAL_ERROR, PROBLEM_MIMETYPE, problem_body
from predict_service.middleware import MAX_BODY_BYTES, RESPONSE_HEADER, choose_request_id

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Scope]]
Send = Callable[[Scope], Awaitable[None]]
WsgiApp = Callable[..., Any]

_log = logging.getLogger(__name__)


def wsgi_to_asgi(wsgi_app: WsgiApp) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app that answers each HTTP request by calling wsgi_app inline."""

    async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _http(wsgi_app, scope, receive, send)
        # Nothing else is sent here: the worker runs with lifespan="off" and ws="none".

    return asgi_app


def create_asgi_app(overrides=None):
    """Gunicorn's entry point for the uvicorn worker (gunicorn.conf.py)."""
    return wsgi_to_asgi(create_app(overrides))


async def _read_body(environ: dict[str, Any], receive: Receive) -> tuple[bytes, bool] | None:
    """The body, and whether it was left unread past MAX_BODY_BYTES (CONTENT_LENGTH then says how
    much was seen, and the middleware refuses it with a 413); None if the client left."""
    declared = environ.get("CONTENT_LENGTH", "")
    if "HTTP_TRANSFER_ENCODING" not in environ and declared in ("", "0"):
        return b"", False  # no body by HTTP's framing rules: nothing to wait for (every GET here)
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return b"", True
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            environ["CONTENT_LENGTH"] = str(len(body))
            return b"", True
        if not message.get("more_body", False):
            return bytes(body), False


async def _http(wsgi_app: WsgiApp, scope: Scope, receive: Receive, send: Send) -> None:
    environ = build_environ(_without_underscored_headers(scope), None)
    read = await _read_body(environ, receive)
    if read is None:
        return  # nobody to answer
    body, unread = read
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.multithread"] = False
    # The whole body is buffered, so reading to the end of the stream is safe. A chunked body has
    # no CONTENT_LENGTH, and without this flag Werkzeug would read it as empty.
    environ["wsgi.input_terminated"] = True

    response: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        # PEP 3333: a second call only with exc_info, re-raised once write() sent the headers.
        if exc_info is not None and written:
            raise exc_info[1].with_traceback(exc_info[2])
        if response and exc_info is None:
            raise RuntimeError("start_response called a second time without exc_info")
        response[:] = [status, headers]
        return written.append  # the legacy write() callable: its data goes first

    try:
        chunks = wsgi_app(environ, start_response)
        try:
            # The app's responses are small JSON documents: buffer, then send in one message.
            payload = b"".join(chunks)
            if written:
                payload = b"".join(written) + payload
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = int(response[0].split(" ", 1)[0])
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response[1]]
    except Exception:
        # Flask turns its own errors into JSON; this is only for a failure outside it, so the
        # client still gets the JSON error shape and not the server's plain-text 500.
        request_id = choose_request_id(environ)
        _log.exception("unhandled error outside the app", extra={"request_id": request_id})
        payload = problem_body(500, INTERNAL_ERROR, environ.get("PATH_INFO", ""), request_id)
        status, headers = 500, [(b"content-type", PROBLEM_MIMETYPE.encode())]
        headers.append((RESPONSE_HEADER.lower().encode(), request_id.encode()))
    if unread:  # the rest of the body is still on the connection
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _without_underscored_headers(scope: Scope) -> Scope:
    """Drop header names with "_", as Gunicorn's own workers do: in the WSGI environ X_Request_ID
    and X-Request-ID would be one key, so a client could pass one header off as another."""
    headers = scope["headers"]
    if not any(b"_" in name for name, _ in headers):
        return scope
    return {**scope, "headers": [(name, value) for name, value in headers if b"_" not in name]}
