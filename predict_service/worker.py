"""The Gunicorn worker class the image runs: uvicorn's HTTP protocol under Gunicorn's master.

Gunicorn stays the process manager (binding, forking, the heartbeat, replacing dead workers,
signals); each worker serves HTTP with uvicorn (httptools on uvloop) and calls the Flask app
inline (asgi.py). uvicorn-worker is the uvicorn project's own Gunicorn worker; this subclass only
pins its choices for this service.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker as _UvicornWorker

# ws="none" is deliberate, so uvicorn's two warnings for each request with an Upgrade header are
# noise any client could multiply (the request is still answered, with its access line).
_UPGRADE_WARNINGS = ("Unsupported upgrade request.", "No supported WebSocket library detected")


def _not_an_upgrade_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_UPGRADE_WARNINGS)


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        # Explicit, not "auto": a missing uvloop/httptools must fail the boot, not quietly halve
        # the throughput by falling back to the pure-Python implementations.
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",  # no WebSocket routes; an upgrade request is an ordinary request
        "lifespan": "off",  # nothing to open or close at start or stop
        "access_log": False,  # the app writes the access line (middleware.py)
        "server_header": False,  # no version banner for scanners
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # After SIGTERM uvicorn waits for in-flight requests without a bound; the master kills
        # the worker at graceful_timeout. Give up a second earlier, so a request that
        # never completes (a client stalled mid-body) is cancelled and the worker exits cleanly
        # instead of being killed.
        graceful = self.cfg.graceful_timeout
        self.config.timeout_graceful_shutdown = max(graceful - 1, graceful / 2)
        # uvicorn-worker tells the master "alive" only every timeout/2 s (and Gunicorn already
        # halves the timeout it hands a worker), so a request blocking the loop could be cut off
        # after half of the timeout. Every tick of uvicorn's once-a-second loop instead:
        # a request gets at least timeout - 1 s. One utime() a second costs nothing.
        self.config.timeout_notify = 0
        # uvicorn-worker copies Gunicorn's error handlers onto uvicorn's loggers and stops their
        # propagation. Gunicorn's loggers have no handlers here (jsonlog.py: everything goes to
        # the root logger's JSON handler), so undo that, or uvicorn's lines would vanish.
        for name in ("uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            logger.handlers = []
            logger.propagate = name == "uvicorn.error"
        logging.getLogger("uvicorn.error").addFilter(_not_an_upgrade_warning)

    def init_signals(self) -> None:
        super().init_signals()
        # uvicorn catches SIGINT/SIGTERM, shuts down gracefully, then raises the signal again
        # against the handler it found, which uvicorn-worker set to the default: the worker then
        # dies *by* the signal, and the master logs "Worker (pid:N) was sent SIGINT!" as a
        # WARNING after every Ctrl-C. A worker that finished its graceful shutdown exits 0 instead.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, _exit_cleanly)

    def handle_exit(self, sig: int, frame: object) -> None:
        # uvicorn-worker routes SIGQUIT here (the master's quick shutdown, sent on a SIGINT to the
        # master alone), but only marks the worker as not alive, which uvicorn never reads: left
        # so, it serves on until the master SIGKILLs it at graceful_timeout, logged as ERRORs.
        # Quick means now: leave the event loop and exit 0.
        super().handle_exit(sig, frame)
        _exit_cleanly(sig, frame)

    def run(self) -> None:
        # Hand uvicorn the listening sockets themselves, not Gunicorn's wrappers: uvloop detaches
        # a real socket when its server closes, but calls close() on anything else after libuv
        # closed the descriptor, and Gunicorn's wrapper then logs "Error while closing socket
        # [Errno 9] Bad file descriptor" at every stop.
        self.sockets = [getattr(listener, "sock", listener) for listener in self.sockets]
        super().run()


def _exit_cleanly(signum: int, frame: object) -> None:
    # Closing the event loop resets SIGQUIT to its default action, which would kill the exiting
    # worker if the master's quick shutdown (Ctrl-C reaches both) arrives then: held off instead.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGQUIT})
    sys.exit(0)
