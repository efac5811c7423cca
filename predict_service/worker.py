"""The Gunicorn worker class the image runs: uvicorn's HTTP protocol under Gunicorn's master.

Gunicorn stays the process manager (binding, forking, the heartbeat, replacing dead workers,
signals); each worker serves HTTP with uvicorn (httptools on uvloop) and calls the Flask app
inline (asgi.py). uvicorn-worker is the uvicorn project's own Gunicorn worker; this subclass only
pins its choices for this service.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        # Explicit, not "auto": a missing uvloop/httptools must fail the boot, not quietly halve
        # the throughput by falling back to the pure-Python implementations.
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",  # no WebSocket routes; an upgrade request is an ordinary request
        "access_log": False,  # the app writes the access line (accesslog.py)
        "server_header": False,  # no version banner for scanners
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # In-flight requests get GUNICORN_GRACEFUL_TIMEOUT after SIGTERM, as with Gunicorn's own
        # workers (uvicorn-worker does not pass it on; uvicorn would wait without a bound).
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout
        # uvicorn-worker copies Gunicorn's error handlers onto uvicorn's loggers and stops their
        # propagation. Gunicorn's loggers have no handlers here (jsonlog.py: everything goes to
        # the root logger's JSON handler), so undo that, or uvicorn's lines would vanish.
        for name in ("uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            logger.handlers = []
            logger.propagate = name == "uvicorn.error"
