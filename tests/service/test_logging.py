"""JSON log lines: one object per line, with the request's id, method and path on every app line."""

import io
import json
import logging
from datetime import datetime

import pytest

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


def test_a_field_orjson_refuses_does_not_lose_the_line():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "odd fields", (), None)
    record.fields = {"count": 2**70, 3: "int key"}
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["count"], entry["3"], entry["message"]) == (2**70, "int key", "odd fields")


def test_access_line_per_request_with_the_request_id(log_stream):
    """One line a request, written by the app (accesslog.py), the same under every server."""
    client = create_app({"TESTING": True}).test_client()
    client.get(
        "/nope?a=1",
        headers={
            "X-Request-ID": "acc-1",
            "X-Forwarded-For": "203.0.113.7",
            "User-Agent": "curl/8",
        },
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    [entry] = [e for e in lines(log_stream) if e["logger"] == "predict_service.access"]
    assert entry["message"] == "GET /nope 404"
    assert entry["request_id"] == "acc-1"
    assert entry["method"] == "GET"
    assert entry["path"] == "/nope"
    assert entry["query"] == "a=1"
    assert entry["status"] == 404
    assert entry["bytes"] > 0
    assert 0 <= entry["duration_ms"] < 5000
    assert entry["remote_addr"] == "10.0.0.5"
    assert entry["forwarded_for"] == "203.0.113.7"
    assert entry["user_agent"] == "curl/8"


def test_access_line_shows_a_non_ascii_path_as_text(log_stream):
    create_app({"TESTING": True}).test_client().get("/caf%C3%A9", headers={"X-Request-ID": "acc-u"})
    [entry] = [e for e in lines(log_stream) if e.get("request_id") == "acc-u"]
    assert (entry["path"], entry["message"]) == ("/café", "GET /café 404")


def test_access_line_of_an_unhandled_error_has_its_request_id(log_stream):
    app = create_app({"TESTING": True})

    @app.get("/explode")
    def explode():
        raise ValueError("kaput")

    response = app.test_client().get("/explode")
    [entry] = [e for e in lines(log_stream) if e["logger"] == "predict_service.access"]
    assert entry["status"] == 500
    assert entry["request_id"] == response.headers["X-Request-ID"]


def test_access_log_setting_turns_the_line_off(log_stream):
    create_app({"TESTING": True, "ACCESS_LOG": False}).test_client().get("/predict")
    create_app({"TESTING": True, "ACCESS_LOG": "off"}).test_client().get("/predict")
    assert not [e for e in lines(log_stream) if e["logger"] == "predict_service.access"]
    create_app({"TESTING": True, "ACCESS_LOG": "1"}).test_client().get("/predict")
    assert [e for e in lines(log_stream) if e["logger"] == "predict_service.access"]


def test_logging_config_sends_server_and_app_lines_through_one_json_handler():
    config = logging_config("WARNING")
    assert config["root"]["level"] == "WARNING"
    for name in ("gunicorn.error", "uvicorn.error"):
        assert config["loggers"][name]["handlers"] == []
        assert config["loggers"][name]["propagate"] is True
    # The servers' own access lines would duplicate the app's (and lack the request id).
    for name in ("gunicorn.access", "uvicorn.access"):
        assert config["loggers"][name]["propagate"] is False
    assert config["handlers"]["stdout"]["stream"] == "ext://sys.stdout"


def test_configure_logging_leaves_a_configured_host_alone():
    root = logging.getLogger()
    before = list(root.handlers)
    assert before, "pytest's own handlers are expected on the root logger here"
    configure_logging("DEBUG")
    assert root.handlers == before
