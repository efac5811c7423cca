"""What the app writes to stdout: one JSON object a line, with the request's id on every line of a
request, and one access line a request carrying its metrics (CloudWatch's EMF)."""

import io
import json
import logging
import sys
from datetime import datetime

import pytest

from predict_service import create_app
from tests.emf import emf_problems


@pytest.fixture
def production_logging(monkeypatch):
    """Logging as in production (no host configured it), onto a stdout of the test's own.

    Call it to start (pytest installs its own capture at the start of each test, so this happens
    inside the test): it returns a function that parses every line written so far; plain text
    would fail it."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]

    def start():
        monkeypatch.setattr(sys, "stdout", stream)
        root.handlers = []  # without a host's handlers the app configures its own
        return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]

    yield start
    root.handlers = saved


def access_lines(entries):
    return [e for e in entries if e["logger"] == "predict_service.access"]


def test_app_line_has_the_request_fields(production_logging):
    entries = production_logging()
    app = create_app({"TESTING": True})

    @app.get("/noisy")
    def noisy():
        app.logger.warning("something to note")
        return {"ok": True}

    app.test_client().get("/noisy", headers={"X-Request-ID": "log-1"})
    [entry] = [e for e in entries() if e["message"] == "something to note"]
    assert (entry["request_id"], entry["method"], entry["path"]) == ("log-1", "GET", "/noisy")
    assert (entry["level"], entry["logger"]) == ("WARNING", app.logger.name)
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None


def test_traceback_stays_inside_one_json_line(production_logging):
    entries = production_logging()
    app = create_app({"TESTING": True})

    @app.get("/explode")
    def explode():
        raise ValueError("kaput")

    app.test_client().get("/explode", headers={"X-Request-ID": "log-2"})
    [entry] = [e for e in entries() if e.get("exception")]
    assert (entry["request_id"], entry["level"]) == ("log-2", "ERROR")
    assert "Traceback" in entry["exception"]
    assert "ValueError: kaput" in entry["exception"]


def test_lines_outside_a_request_have_no_request_fields(production_logging):
    entries = production_logging()
    create_app({"TESTING": True})
    logging.getLogger("somewhere").info("hello %s", "you")
    [entry] = [e for e in entries() if e["logger"] == "somewhere"]
    assert (entry["message"], entry["level"]) == ("hello you", "INFO")
    assert "request_id" not in entry


def test_one_access_line_a_request(production_logging):
    entries = production_logging()
    client = create_app({"TESTING": True}).test_client()
    client.get(
        "/nope?a=1",
        headers={"X-Request-ID": "acc-1", "X-Forwarded-For": "203.0.113.7", "User-Agent": "curl/8"},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    [entry] = access_lines(entries())
    assert entry["message"] == "GET /nope 404"
    assert entry["level"] == "INFO"
    expected = {
        "request_id": "acc-1",
        "method": "GET",
        "path": "/nope",
        "query": "a=1",
        "status": 404,
        "remote_addr": "10.0.0.5",
        "forwarded_for": "203.0.113.7",
        "user_agent": "curl/8",
    }
    assert {key: entry[key] for key in expected} == expected
    assert entry["bytes"] > 0
    assert 0 <= entry["duration_ms"] < 5000


def test_access_line_shows_a_non_ascii_path_as_text(production_logging):
    entries = production_logging()
    create_app({"TESTING": True}).test_client().get("/caf%C3%A9")
    [entry] = access_lines(entries())
    assert (entry["path"], entry["message"]) == ("/café", "GET /café 404")


@pytest.mark.parametrize(
    ("method", "path", "headers", "route", "status_class"),
    [
        ("GET", "/predict", {}, "/predict", "2xx"),
        ("HEAD", "/health", {}, "/health", "2xx"),
        ("GET", "/predict?x=1", {}, "/predict", "4xx"),
        ("GET", "/predict/extra", {}, "unmatched", "4xx"),
        ("DELETE", "/predict", {}, "/predict", "4xx"),
        ("POST", "/health", {"Content-Length": str(10**6)}, "/health", "4xx"),  # the 413
        ("GET", "/explode", {}, "/explode", "5xx"),
    ],
)
def test_access_line_is_an_emf_record_of_the_request(
    production_logging, method, path, headers, route, status_class
):
    entries = production_logging()
    app = create_app({"TESTING": True, "SERVICE_NAME": "unit"})

    @app.get("/explode")
    def explode():
        raise ValueError("kaput")

    app.test_client().open(path, method=method, headers=headers)
    [entry] = access_lines(entries())
    assert emf_problems(entry) == []
    assert (entry["Service"], entry["Route"], entry["StatusClass"]) == ("unit", route, status_class)
    assert (entry["Requests"], entry["Latency"]) == (1, entry["duration_ms"])


def test_metrics_can_be_turned_off_and_the_line_stays(production_logging):
    entries = production_logging()
    create_app({"TESTING": True, "EMF_METRICS": "0"}).test_client().get("/predict")
    [entry] = access_lines(entries())
    assert entry["status"] == 200
    assert "_aws" not in entry and "Requests" not in entry


def test_access_log_setting_turns_the_line_off(production_logging):
    entries = production_logging()
    create_app({"TESTING": True, "ACCESS_LOG": False}).test_client().get("/predict")
    create_app({"TESTING": True, "ACCESS_LOG": "off"}).test_client().get("/predict")
    assert not access_lines(entries())
    create_app({"TESTING": True, "ACCESS_LOG": "1"}).test_client().get("/predict")
    assert access_lines(entries())
