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
import sys
import timeit
import uuid
from datetime import timedelta
from pathlib import Path

from gunicorn.config import Config
from gunicorn.glogging import Logger

from predict_service import create_app
from predict_service.api import _no_query_args, _prediction
from predict_service.jsonlog import ACCESS_LOGGER, JsonFormatter
from predict_service.request_id import choose_request_id

ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/predict",
    "QUERY_STRING": "",
    "RAW_URI": "/predict",
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


class _Response:  # what Gunicorn's access logger reads from its response object
    status = "200 OK"
    sent = 15
    headers = (("Content-Type", "application/json"), ("X-Request-ID", uuid.uuid4().hex))


class _Request:
    headers = (("HOST", "127.0.0.1:8000"), ("USER-AGENT", "wrk"))


def _access_record() -> logging.LogRecord:
    """The LogRecord Gunicorn's access logger emits for one request, built the way it builds it."""
    glogger = Logger(Config())
    atoms = glogger.atoms_wrapper_class(
        glogger.atoms(_Response(), _Request(), ENVIRON, timedelta(microseconds=1234))
    )
    return logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 1, "%(m)s %(U)s %(s)s", atoms, None
    )


def pieces(app) -> dict[str, object]:
    """Name -> a callable doing one piece of one request's work; call inside an app context."""
    formatter = JsonFormatter()
    glogger = Logger(Config())
    record = _access_record()
    entry = json.loads(formatter.format(record))
    json_provider = app.json

    def whole_request():
        b"".join(app.wsgi_app(dict(ENVIRON), lambda status, headers: None))

    return {
        "Flask app, whole GET /predict (WSGI call, no server)": whole_request,
        "request id: uuid4().hex": lambda: uuid.uuid4().hex,
        "request id: choose_request_id (no header)": lambda: choose_request_id({}),
        "request id: choose_request_id (valid X-Request-ID)": lambda: choose_request_id(
            {"X-Request-ID": "abc-123"}
        ),
        "schema: NoQueryArgsSchema load({})": lambda: _no_query_args.load({}),
        "schema: PredictionSchema dump": lambda: _prediction.dump({"score": 0.75}),
        "JSON: app.json.response(body)": lambda: json_provider.response({"score": 0.75}),
        "access log: Gunicorn atoms()": lambda: glogger.atoms(
            _Response(), _Request(), ENVIRON, timedelta(microseconds=1234)
        ),
        "access log: JsonFormatter.format(record)": lambda: formatter.format(record),
        "access log: json.dumps(entry) alone": lambda: json.dumps(entry, default=str),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
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
