"""JSON log lines: one object per line, with the request's id, method and path on every app line."""

import io
import json
import logging
from datetime import datetime, timedelta

import pytest
from gunicorn.glogging import Logger as GunicornLogger

from predict_service import create_app
from predict_service.jsonlog import JsonFormatter, configure_logging, logging_config


@pytest.fixture
def log_stream():
    """Capture the app's log lines exactly as the production handler formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_app_log_line_has_the_request_fields(log_stream):
    app = create_app({"TESTING": True})

    @app.get("/noisy")
    def noisy():
        app.logger.warning("something to note")
        return {"ok": True}

    app.test_client().get("/noisy", headers={"X-Request-ID": "log-1"})
    [entry] = [e for e in lines(log_stream) if e["message"] == "something to note"]
    assert entry["request_id"] == "log-1"
    assert entry["method"] == "GET"
    assert entry["path"] == "/noisy"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == app.logger.name
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None


def test_traceback_stays_inside_one_json_line(log_stream):
    app = create_app({"TESTING": True})

    @app.get("/explode")
    def explode():
        raise ValueError("kaput")

    app.test_client().get("/explode", headers={"X-Request-ID": "log-2"})
    raw = log_stream.getvalue().splitlines()
    entries = [json.loads(line) for line in raw]  # every line parses on its own
    [entry] = [e for e in entries if e.get("exception")]
    assert entry["request_id"] == "log-2"
    assert entry["level"] == "ERROR"
    assert "ValueError: kaput" in entry["exception"]
    assert "Traceback" in entry["exception"]


def test_lines_outside_a_request_have_no_request_fields():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello you"
    assert "request_id" not in entry


def test_gunicorn_access_line_maps_its_atoms():
    """The access line is built from the atoms Gunicorn really produces (its own atoms())."""

    class Cfg:  # only what Logger.atoms reads
        access_log_format = "%(m)s %(U)s %(s)s"

    class Resp:
        status = "404 NOT FOUND"
        sent = 123
        headers = (("Content-Type", "application/problem+json"), ("X-Request-ID", "acc-1"))

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/nope?a=1",
        "PATH_INFO": "/nope",
        "QUERY_STRING": "a=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_USER_AGENT": "curl/8",
    }
    gunicorn_logger = GunicornLogger.__new__(GunicornLogger)
    gunicorn_logger.cfg = Cfg()
    request_headers = [("X-Forwarded-For", "203.0.113.7")]
    atoms = gunicorn_logger.atoms(Resp(), request_headers, environ, timedelta(microseconds=2500))
    safe_atoms = GunicornLogger.atoms_wrapper_class(atoms)
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, Cfg.access_log_format, (safe_atoms,), None
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /nope 404"
    assert entry["request_id"] == "acc-1"
    assert entry["method"] == "GET"
    assert entry["path"] == "/nope"
    assert entry["query"] == "a=1"
    assert entry["status"] == 404
    assert entry["duration_ms"] == 2.5
    assert entry["remote_addr"] == "10.0.0.5"
    assert entry["forwarded_for"] == "203.0.113.7"


def test_logging_config_sends_gunicorn_and_app_lines_through_one_json_handler():
    config = logging_config("WARNING")
    assert config["root"]["level"] == "WARNING"
    for name in ("gunicorn.error", "gunicorn.access"):
        assert config["loggers"][name]["handlers"] == []
        assert config["loggers"][name]["propagate"] is True
    assert config["handlers"]["stdout"]["stream"] == "ext://sys.stdout"


def test_configure_logging_leaves_a_configured_host_alone():
    root = logging.getLogger()
    before = list(root.handlers)
    assert before, "pytest's own handlers are expected on the root logger here"
    configure_logging("DEBUG")
    assert root.handlers == before
