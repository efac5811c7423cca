"""The contract over real HTTP, through Gunicorn started from gunicorn.conf.py."""

import http.client
import uuid
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.integration


def test_health_and_predict_over_http(gunicorn_server):
    health = requests.get(f"{gunicorn_server.base_url}/health", timeout=5)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    predict = requests.get(f"{gunicorn_server.base_url}/predict", timeout=5)
    assert (predict.status_code, predict.json()) == (200, {"score": 0.75})
    assert predict.headers["Content-Type"] == "application/json"


def test_errors_over_http_are_problem_json(gunicorn_server):
    for method, path, status in [
        ("GET", "/predict?x=1", 400),
        ("GET", "/missing", 404),
        ("POST", "/predict", 405),
    ]:
        response = requests.request(method, f"{gunicorn_server.base_url}{path}", timeout=5)
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == status


def test_keep_alive_is_honoured(gunicorn_server):
    """Several requests ride one TCP connection (the ALB reuses connections the same way)."""
    netloc = urlsplit(gunicorn_server.base_url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=5)
    try:
        connection.request("GET", "/health")
        first = connection.getresponse()
        first.read()
        assert first.getheader("Connection", "").lower() == "keep-alive"
        sock = connection.sock
        local_port = sock.getsockname()[1]
        for _ in range(3):
            connection.request("GET", "/predict")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
        assert connection.sock is sock  # http.client reconnects silently if the server closed it
        assert connection.sock.getsockname()[1] == local_port
    finally:
        connection.close()


def test_access_log_is_json_with_the_request_id(gunicorn_server):
    request_id = f"it-{uuid.uuid4().hex}"
    response = requests.get(
        f"{gunicorn_server.base_url}/predict", headers={"X-Request-ID": request_id}, timeout=5
    )
    assert response.headers["X-Request-ID"] == request_id
    access = gunicorn_server.wait_for_log_entry(lambda e: e.get("request_id") == request_id)
    assert access["logger"] == "gunicorn.access"
    assert access["method"] == "GET"
    assert access["path"] == "/predict"
    assert access["status"] == 200
    assert access["duration_ms"] >= 0
    assert {"time", "level", "message"} <= access.keys()


def test_generated_request_id_reaches_the_access_log(gunicorn_server):
    response = requests.get(f"{gunicorn_server.base_url}/health", timeout=5)
    generated = response.headers["X-Request-ID"]
    access = gunicorn_server.wait_for_log_entry(lambda e: e.get("request_id") == generated)
    assert access["path"] == "/health"


def test_every_stdout_line_is_json(gunicorn_server):
    requests.get(f"{gunicorn_server.base_url}/missing", timeout=5)
    entries = gunicorn_server.log_entries()  # json.loads of every line: plain text would raise
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)


def test_gunicorn_own_lines_are_json_too(gunicorn_server):
    messages = [
        e["message"] for e in gunicorn_server.log_entries() if e["logger"] == "gunicorn.error"
    ]
    assert any(m.startswith("Listening at") for m in messages)
    assert any(m.startswith("Booting worker") for m in messages)


def test_access_log_can_be_turned_off(fresh_gunicorn):
    server = fresh_gunicorn(ACCESS_LOG="0")
    response = requests.get(
        f"{server.base_url}/predict", headers={"X-Request-ID": "quiet-1"}, timeout=5
    )
    assert response.status_code == 200
    assert server.stop() == 0  # after a clean stop every line that would be written is written
    entries = server.log_entries()
    assert any(e["message"] == "Shutting down: Master" for e in entries)  # the log is not empty
    assert not [e for e in entries if e["logger"] == "gunicorn.access"]
