"""JSON log lines on stdout, one object per line, for the app and for Gunicorn alike.

CloudWatch Logs Insights parses JSON lines without any set-up, and a request id in every line ties a
request's lines together. Written by hand rather than with python-json-logger because the access-log
fields come from Gunicorn's own "atoms" and need mapping anyway; it is a dozen lines.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context, request

ACCESS_LOGGER = "gunicorn.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == ACCESS_LOGGER and isinstance(record.args, dict):
            entry.update(_access_fields(record.args))
        elif has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["method"] = request.method
            entry["path"] = request.path
        if record.exc_info:
            # json.dumps escapes the newlines: the traceback stays inside one line.
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _access_fields(atoms: dict[str, Any]) -> dict[str, Any]:
    """Map Gunicorn's access-log atoms (see gunicorn.glogging.Logger.atoms) to our field names."""
    status = atoms.get("s")
    return {
        "request_id": atoms.get("{x-request-id}o"),
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "query": atoms.get("q") or None,
        "status": int(status) if str(status).isdigit() else status,
        "duration_ms": round(atoms.get("D", 0) / 1000, 3),
        "bytes": atoms.get("B"),
        "remote_addr": atoms.get("h"),  # behind the ALB: the ALB's address
        "forwarded_for": atoms.get("{x-forwarded-for}i"),  # the client chain the ALB saw
        "user_agent": atoms.get("a"),
    }


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the app and Gunicorn (passed to Gunicorn as logconfig_dict)."""
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
        # Gunicorn's loggers carry no handlers of their own: they propagate to root, so every line
        # is formatted once, the same way.
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            ACCESS_LOGGER: {"level": "INFO", "handlers": [], "propagate": True},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """Configure JSON logging unless a host (Gunicorn, pytest) configured the root logger."""
    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(logging_config(level))
    logging.captureWarnings(True)
