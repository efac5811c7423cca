"""What a request costs in-process (no server, no socket), with and without the access line and
its metrics: microseconds per request, best of a few repeats (the minimum is the least noisy
estimate on a shared box). Only the service's public entry points are used (create_app,
wsgi_to_asgi, settings), so the differences between rows are what each setting costs a request.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import timeit
from pathlib import Path

from predict_service import create_app
from predict_service.asgi import wsgi_to_asgi

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
SETTINGS = {
    "access line with metrics (as shipped)": {},
    "access line without metrics (EMF_METRICS=0)": {"EMF_METRICS": "0"},
    "no access line (ACCESS_LOG=0)": {"ACCESS_LOG": "0"},
}


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


def pieces() -> dict[str, object]:
    """Name -> a callable serving one GET /predict."""
    calls = {}
    for name, overrides in SETTINGS.items():
        app = create_app(overrides)
        bridge = wsgi_to_asgi(app.wsgi_app)
        calls[f"bridge + app, {name}"] = lambda b=bridge: _run(b(SCOPE, _receive, _send))
        calls[f"app alone (WSGI), {name}"] = lambda a=app: b"".join(
            a.wsgi_app(dict(ENVIRON), lambda status, headers, exc_info=None: None)
        )
    return calls


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

    results = {}
    stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the access lines go nowhere while timing
    try:
        for name, function in pieces().items():
            best = min(timeit.repeat(function, number=args.number, repeat=3))
            results[name] = round(best / args.number * 1e6, 2)
    finally:
        sys.stdout.close()
        sys.stdout = stdout

    width = max(map(len, results))
    print(f"{'GET /predict, in-process':<{width}}  µs/request")
    print("\n".join(f"{name:<{width}}  {value:7.2f}" for name, value in sorted(results.items())))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
