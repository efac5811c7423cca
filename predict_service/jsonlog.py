"""JSON log lines on stdout, one object per line, for the app and for Gunicorn alike.

CloudWatch Logs Insights parses JSON lines without any set-up, and a request id in every line ties a
request's lines together. Written by hand rather than with python-json-logger: it is a dozen lines,
and the per-request access line (accesslog.py) is on the hot path, where fewer layers are cheaper.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

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
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
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


def skip_unused_record_fields() -> None:
    """Stop the logging module collecting what JsonFormatter never prints (caller's file and line,
    thread, process and task names): the logging HOWTO's documented optimisation. Every request
    writes an access line; this takes ~3 µs off its ~20 µs (bench/README.md)."""
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
                "class": "logging.StreamHandler",
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
