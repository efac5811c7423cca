"""What each piece of per-request work costs, in-process (no server, no socket): microseconds per
call, best of a few repeats (the minimum is the least noisy estimate on a shared box).

The whole request through the Flask app is timed too, so the pieces can be read against it, and
against the server's share measured by bench.py (the raw-WSGI floor).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import secrets
import sys
import timeit
import uuid
from pathlib import Path

import orjson
from a2wsgi.wsgi import build_environ
from flask.json.provider import DefaultJSONProvider

from predict_service import create_app
from predict_service.accesslog import ACCESS_LOGGER, _access_fields
from predict_service.api import _no_query_args, _prediction
from predict_service.asgi import wsgi_to_asgi
from predict_service.jsonlog import JsonFormatter, JsonLinesHandler
from predict_service.request_id import choose_request_id

ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/predict",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "wrk",
    "wsgi.url_scheme": "http",
    "wsgi.input": io.BytesIO(b""),
    "wsgi.errors": sys.stderr,
}
SCOPE = {  # what uvicorn hands the bridge for the same request
    "type": "http",
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/predict",
    "raw_path": b"/predict",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}
_ANSWER = ["200 OK", [("Content-Type", "application/json"), ("X-Request-ID", uuid.uuid4().hex)]]


async def _receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message):
    pass


def _run(coroutine) -> None:
    """Drive a coroutine that never waits to its end, without an event loop's own overhead."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    raise RuntimeError("the coroutine waited on something")


def pieces(app) -> dict[str, object]:
    """Name -> a callable doing one piece of one request's work; call inside an app context."""
    formatter = JsonFormatter()
    fields = _access_fields(ENVIRON, _ANSWER, 0.001234)
    record = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "GET /predict 200", (), None
    )
    record.fields = fields
    entry = json.loads(formatter.format(record))
    # The whole access line both ways, written to /dev/null by the handler the service installs:
    # through logging (a LogRecord handed down a logger), and by the handler alone (the fast path
    # accesslog.py takes when that handler is the only one logging would reach).
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    handler = JsonLinesHandler(devnull)
    handler.setFormatter(formatter)
    usual = logging.getLogger("bench.access-line")
    usual.propagate = False
    usual.handlers[:] = [handler]
    usual.setLevel(logging.INFO)
    json_provider = app.json
    stock_provider = DefaultJSONProvider(app)
    bridge = wsgi_to_asgi(app.wsgi_app)

    def whole_request():
        b"".join(app.wsgi_app(dict(ENVIRON), lambda status, headers, exc_info=None: None))

    return {
        "Flask app, whole GET /predict (WSGI call, no server; access line not formatted)": (
            whole_request
        ),
        "bridge + Flask app, whole GET /predict (ASGI call, no server)": lambda: _run(
            bridge(SCOPE, _receive, _send)
        ),
        "bridge: a2wsgi build_environ(scope)": lambda: build_environ(SCOPE, io.BytesIO(b"")),
        "request id: secrets.token_hex(16) (what a generated id costs)": lambda: secrets.token_hex(
            16
        ),
        "request id: choose_request_id (no header)": lambda: choose_request_id({}),
        "request id: choose_request_id (valid X-Request-ID)": lambda: choose_request_id(
            {"X-Request-ID": "abc-123"}
        ),
        "schema: NoQueryArgsSchema load({})": lambda: _no_query_args.load({}),
        "schema: PredictionSchema dump": lambda: _prediction.dump({"score": 0.75}),
        "JSON: app.json.response(body) (orjson provider)": lambda: json_provider.response(
            {"score": 0.75}
        ),
        "access line: its fields (accesslog._access_fields)": lambda: _access_fields(
            ENVIRON, _ANSWER, 0.001234
        ),
        "access line: JsonFormatter.format(record)": lambda: formatter.format(record),
        "access line, whole: through logging (logger.info with extra)": lambda: usual.info(
            "%s", "GET /predict 200", extra={"fields": fields}
        ),
        "access line, whole: JsonLinesHandler.write_fields (no LogRecord)": lambda: (
            handler.write_fields(ACCESS_LOGGER, "GET /predict 200", fields)
        ),
        "access line: its JSON encoding alone (orjson)": lambda: orjson.dumps(entry, default=str),
        "for comparison: the same with the standard library's json.dumps": lambda: json.dumps(
            entry, default=str
        ),
        "JSON: the response with Flask's stock provider": lambda: stock_provider.response(
            {"score": 0.75}
        ),
    }


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "Per-request pieces").splitlines()[0])
    parser.add_argument("--number", type=_positive_int, default=20000, help="calls per piece")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    app = create_app()
    logging.getLogger().handlers[:] = [logging.NullHandler()]  # nothing to print while timing
    results = {}
    with app.app_context():
        for name, function in pieces(app).items():
            best = min(timeit.repeat(function, number=args.number, repeat=3))
            results[name] = round(best / args.number * 1e6, 2)

    width = max(map(len, results))
    print(f"{'piece':<{width}}  µs/call")
    print("\n".join(f"{name:<{width}}  {value:7.2f}" for name, value in results.items()))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
