"""JSON log lines on stdout, one object per line, for the app and for Gunicorn alike.

CloudWatch Logs Insights parses JSON lines without any set-up, and a request id in every line ties a
request's lines together. Written by hand rather than with python-json-logger: the formatter is
short, and the per-request access line (accesslog.py) is on the hot path, where it skips building a
LogRecord whenever logging would hand that record to this module's handler alone (JsonLinesHandler),
something no logging library offers.
"""

from __future__ import annotations

import json
import logging
import logging.config
import math
import time
from typing import Any, cast

import orjson
from flask import has_request_context, request

from predict_service.request_id import current_request_id

# Servers' own access loggers: silenced, the app writes the access line itself (accesslog.py).
SERVER_ACCESS_LOGGERS = ("gunicorn.access", "uvicorn.access")


def _encode(entry: dict[str, Any]) -> str:
    # orjson: a tenth of json.dumps's time, and every request writes a line. It escapes control
    # characters (a traceback's newlines) like json does, so a line stays one line. What it
    # refuses (non-string keys, an integer beyond 64 bits) goes through json: the line is kept.
    try:
        return orjson.dumps(entry, default=str).decode()
    except orjson.JSONEncodeError:
        return json.dumps(entry, default=str)


class JsonFormatter(logging.Formatter):
    # The "YYYY-MM-DDTHH:MM:SS" of the last second a line was written in: every request writes a
    # line, and datetime's fromtimestamp + isoformat cost more than the rest of the line's encoding.
    # One tuple, replaced whole: a thread never pairs one second with another's text.
    _last_second: tuple[int | None, str] = (None, "")  # None: no second yet (-1 is 1969)

    def format_time(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds, as datetime's isoformat(timespec="milliseconds")."""
        # datetime.fromtimestamp's own rounding, so the text is the same to the millisecond.
        fraction, whole = math.modf(created)
        second, micros = int(whole), round(fraction * 1_000_000)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        elif micros < 0:  # before 1970: modf gives a negative fraction
            second, micros = second - 1, micros + 1_000_000
        cached_second, text = self._last_second
        if second != cached_second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._last_second = (second, text)
        return f"{text}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.format_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)  # extra={"fields": {...}}: the access line
        if fields:
            entry.update(fields)
        elif has_request_context():
            entry["request_id"] = current_request_id()
            entry["method"] = request.method
            entry["path"] = request.path
        if record.exc_info:
            # Encoded with its newlines escaped: the traceback stays inside one line.
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)


def _logging_own(function: Any) -> bool:
    """Whether a Logger method is still the logging module's own: judged by the function itself,
    not by what was there when this module was imported, since a patch (Sentry's logging
    integration replaces Logger.callHandlers) may come first. functools.wraps copies __module__,
    but also sets __wrapped__."""
    return function.__module__ == "logging" and not hasattr(function, "__wrapped__")


class JsonLinesHandler(logging.StreamHandler):
    """The stdout handler of logging_config(), which can also write a line without a LogRecord.

    write_fields() is the per-request access line's path (accesslog.py): the same line that
    JsonFormatter makes of a record with extra={"fields": ...}, at a fifth of the cost, because
    building a LogRecord and handing it down the logger tree cost more than the line itself.
    """

    def write_fields(self, logger_name: str, message: str, fields: dict[str, Any]) -> None:
        formatter = cast(JsonFormatter, self.formatter)  # sole_json_handler checked its type
        # Inside the try, as in StreamHandler.emit: a field that cannot be encoded is reported
        # by handleError, never raised into the request.
        with self.lock:  # one line at a time, as logging.Handler.handle does
            try:
                entry = {
                    "time": formatter.format_time(time.time()),
                    "level": logging.getLevelName(logging.INFO),  # addLevelName renames it
                    "logger": logger_name,
                    "message": message,
                    **fields,
                }
                self.stream.write(_encode(entry) + self.terminator)
                self.stream.flush()
            except RecursionError:  # as StreamHandler.emit: not swallowed
                raise
            except Exception:
                self.handleError(logging.makeLogRecord({"name": logger_name, "msg": message}))


def sole_json_handler(logger: logging.Logger) -> JsonLinesHandler | None:
    """The handler an INFO record of this logger would reach, when logging would hand it to that
    one JsonLinesHandler with its plain JsonFormatter and nothing else: no filter on the way, no
    other handler anywhere up the tree. None for any other set-up (a test's capture handler, a
    user's own dictConfig), where the caller must log the usual way."""
    # Only a plain Logger with logging's own dispatch: a logger class of your own, or a library
    # that patches Logger.callHandlers/handle (Sentry's logging integration does), must see it.
    if (
        type(logger) is not logging.Logger
        or not _logging_own(logging.Logger.callHandlers)
        or not _logging_own(logging.Logger.handle)
        or logger.filters
    ):
        return None
    node: logging.Logger | None = logger
    while node is not None and node is not logging.root:
        if node.handlers or not node.propagate:
            return None
        node = node.parent
    handlers = logging.root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (
        type(handler) is JsonLinesHandler
        and type(handler.formatter) is JsonFormatter
        and not handler.filters
        and handler.level <= logging.INFO
    ):
        return handler
    return None


def info_with_fields(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """logger.info(message) as one JSON line carrying fields."""
    if not logger.isEnabledFor(logging.INFO):  # logging.disable, logger.disabled, levels (cached)
        return
    handler = sole_json_handler(logger)
    if handler is None:
        logger.info("%s", message, extra={"fields": fields})
    else:
        handler.write_fields(logger.name, message, fields)


def skip_unused_record_fields() -> None:
    """Stop the logging module collecting what JsonFormatter never prints (caller's file and line,
    thread, process and task names): the logging HOWTO's documented optimisation. Every request
    writes a line (which takes JsonLinesHandler.write_fields's shorter path when it can), and the
    app's other records are cheaper too (bench/README.md)."""
    logging._srcfile = None  # no stack walk to find the caller of every log call
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # Python 3.12+ (harmless before)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the app and Gunicorn (passed to Gunicorn as logconfig_dict)."""
    skip_unused_record_fields()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stdout": {
                "()": JsonLinesHandler,
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level, "handlers": ["stdout"]},
        # The servers' loggers carry no handlers of their own: they propagate to root, so every
        # line is formatted once, the same way.
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            **{
                name: {"level": "CRITICAL", "handlers": [], "propagate": False}
                for name in SERVER_ACCESS_LOGGERS
            },
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """Configure JSON logging unless a host (Gunicorn, pytest) configured the root logger."""
    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(logging_config(level))
    logging.captureWarnings(True)
