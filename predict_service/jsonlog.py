"""JSON log lines on stdout, one object per line, for the app, Gunicorn and uvicorn alike.
structlog's ProcessorFormatter renders the records of `logging` (Gunicorn's, uvicorn's, the app's
own); the per-request access line (middleware.py) is written in the same shape by AccessLine."""

import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from flask import has_request_context, request

# Servers' own access loggers are silenced: the app writes the access line itself (middleware.py).
SERVER_ACCESS_LOGGERS = ("gunicorn.access", "uvicorn.access")
SERVER_ERROR_LOGGERS = ("gunicorn.error", "uvicorn.error")
REQUEST_ID_KEY = "predict_service.request_id"  # where the middleware puts the id in the environ
_TIME = structlog.processors.TimeStamper(fmt="iso", utc=True, key="time")
_LINE = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE  # the time as _TIME writes it: UTC, "Z"


def _dumps(entry: dict[str, Any], **_: Any) -> str:
    # orjson escapes a traceback's newlines as json does, so a line stays one line.
    return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _context(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """The record's level and logger, and for an app line in a request its id, method and path."""
    record = event["_record"]
    event["level"] = record.levelname  # upper case, and follows logging.addLevelName
    event["logger"] = record.name
    if "request_id" not in event and has_request_context():
        event["request_id"] = request.environ.get(REQUEST_ID_KEY)
        event["method"] = request.method
        event["path"] = request.path
    return event


class AccessLine:
    """The per-request line, in the same JSON shape. Not through a logger: structlog's chain cost a
    share of a request's CPU (bench/README.md) for a line whose shape never changes."""

    def __init__(self, logger_name: str):
        self.logger_name, self.stream = logger_name, sys.stdout

    def write(self, message: str, fields: dict[str, Any]) -> None:
        head = {"time": datetime.now(UTC), "level": "INFO", "logger": self.logger_name}
        line = orjson.dumps({**head, **fields, "message": message}, option=_LINE)
        self.stream.write(line.decode())
        self.stream.flush()


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the app and Gunicorn (passed to Gunicorn as logconfig_dict)."""
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": [_TIME, structlog.stdlib.ExtraAdder(allow=["request_id"]), _context],
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("message"),
            structlog.processors.format_exc_info,  # the traceback as one string: "exception"
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
    }
    stdout = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    # The servers' loggers carry no handlers of their own: they propagate to root, so every line
    # is formatted once, the same way. Their access loggers are silenced.
    loggers = {name: {"level": level, "propagate": True} for name in SERVER_ERROR_LOGGERS}
    silenced = {"level": "CRITICAL", "propagate": False}
    loggers.update(dict.fromkeys(SERVER_ACCESS_LOGGERS, silenced))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {"stdout": stdout},
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": {name: {**config, "handlers": []} for name, config in loggers.items()},
    }


def configure_logging(level: str = "INFO") -> None:
    """Configure JSON logging unless a host (Gunicorn, pytest) configured the root logger."""
    if not logging.getLogger().handlers:
        logging.config.dictConfig(logging_config(level))
        logging.captureWarnings(True)
