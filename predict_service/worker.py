"""The Gunicorn worker class the image runs: Gunicorn manages the processes (binding, forking, the
heartbeat, replacing dead workers, signals); each worker serves HTTP with uvicorn-worker, uvicorn's
own Gunicorn worker (httptools on uvloop), calling the Flask app inline (asgi.py)."""

import logging
import signal
import sys
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker as _UvicornWorker

# ws="none": uvicorn's warnings on each Upgrade request are noise any client could multiply.
_UPGRADE_WARNINGS = ("Unsupported upgrade request.", "No supported WebSocket library detected")


def _not_an_upgrade_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_UPGRADE_WARNINGS)


def _exit_cleanly(signum: int, frame: object) -> None:
    # Closing the loop resets SIGQUIT to "die": the master's (Ctrl-C reaches both) waits instead.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGQUIT})
    sys.exit(0)


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        # Explicit, not "auto": a missing uvloop/httptools fails the boot, not a slow fallback.
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",  # no WebSocket routes; an upgrade request is an ordinary request
        "lifespan": "off",  # nothing to open or close at start or stop
        "access_log": False,  # the app writes the access line (middleware.py)
        "server_header": False,  # no version banner for scanners
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # After SIGTERM uvicorn waits for in-flight requests without a bound until the master kills
        # it at graceful_timeout: a second earlier, a stalled request is cancelled, the exit clean.
        graceful = self.cfg.graceful_timeout
        self.config.timeout_graceful_shutdown = max(graceful - 1, graceful / 2)
        # "Alive" on every tick of uvicorn's once-a-second loop, not every timeout/2 s (of a timeout
        # Gunicorn already halved): a request that blocks the loop gets at least timeout - 1 s.
        self.config.timeout_notify = 0
        # uvicorn-worker gives uvicorn's loggers Gunicorn's handlers (none here: jsonlog.py sends
        # everything to the root logger) and stops their propagation; undo that, or they go silent.
        logging.getLogger("uvicorn.access").handlers = []  # and silent: the app writes that line
        error = logging.getLogger("uvicorn.error")
        error.handlers, error.propagate = [], True
        error.addFilter(_not_an_upgrade_warning)

    def init_signals(self) -> None:
        super().init_signals()
        # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown: by uvicorn-worker's default
        # handler the worker would die of it, and the master warn "was sent SIGINT!". Exit 0.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, _exit_cleanly)

    def handle_exit(self, sig: int, frame: object) -> None:
        # SIGQUIT (the master's quick shutdown, on a SIGINT to it alone): uvicorn-worker only marks
        # the worker not alive, which uvicorn never reads: it would serve until SIGKILLed. Exit now.
        super().handle_exit(sig, frame)
        _exit_cleanly(sig, frame)

    def run(self) -> None:
        # The real sockets, not Gunicorn's wrappers: uvloop close()s anything but a real socket
        # after libuv closed its descriptor, and a wrapper then logs "Bad file descriptor".
        self.sockets = [getattr(listener, "sock", listener) for listener in self.sockets]
        super().run()
