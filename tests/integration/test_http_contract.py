"""The contract over real HTTP, through Gunicorn started from gunicorn.conf.py."""

import http.client
import json
import re
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from predict_service.middleware import MAX_BODY_BYTES
from tests.emf import emf_problems

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
        assert first.getheader("Connection", "").lower() != "close"
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
    assert access["logger"] == "predict_service.access"
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


def test_every_stdout_line_has_its_time_in_one_form(gunicorn_server):
    """Server, app and access lines alike: RFC 3339 in UTC with "Z", as log queries sort them."""
    requests.get(f"{gunicorn_server.base_url}/predict", timeout=5)
    gunicorn_server.wait_for_log_entry(lambda e: e["logger"] == "predict_service.access")
    entries = gunicorn_server.log_entries()
    assert {"gunicorn.error", "predict_service.access"} <= {e["logger"] for e in entries}
    utc = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
    assert [(e["logger"], e["time"]) for e in entries if not utc.fullmatch(e["time"])] == []


def test_the_server_under_test_runs_with_the_images_python_flags(gunicorn_server):
    """What these tests prove holds for the image: its workers run with PYTHONOPTIMIZE=2 too."""
    for pid in gunicorn_server.worker_pids():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONOPTIMIZE=2" in environ


def test_server_own_lines_are_json_too(gunicorn_server):
    entries = gunicorn_server.log_entries()
    gunicorn = [e["message"] for e in entries if e["logger"] == "gunicorn.error"]
    assert any(m.startswith("Listening at") for m in gunicorn)
    assert any(m.startswith("Booting worker") for m in gunicorn)
    assert "Using worker: predict_service.worker.UvicornWorker" in gunicorn
    uvicorn = [e["message"] for e in entries if e["logger"] == "uvicorn.error"]
    assert any(m.startswith("Started server process") for m in uvicorn)


def test_no_server_writes_a_second_access_line(gunicorn_server):
    request_id = f"once-{uuid.uuid4().hex}"
    requests.get(
        f"{gunicorn_server.base_url}/health", headers={"X-Request-ID": request_id}, timeout=5
    )
    gunicorn_server.wait_for_log_entry(lambda e: e.get("request_id") == request_id)
    time.sleep(0.2)
    entries = gunicorn_server.log_entries()
    # The servers' own access lines would not carry the id: look for their loggers instead.
    access_loggers = {e["logger"] for e in entries if e["logger"].endswith(".access")}
    assert access_loggers == {"predict_service.access"}
    mentions = [e for e in entries if request_id in json.dumps(e)]
    assert len(mentions) == 1, mentions


def test_oversized_body_is_a_413_and_the_connection_closes(gunicorn_server):
    response = requests.post(
        f"{gunicorn_server.base_url}/predict", data=b"x" * (MAX_BODY_BYTES + 1), timeout=5
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Connection"] == "close"
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


def test_access_log_can_be_turned_off(fresh_gunicorn):
    server = fresh_gunicorn(ACCESS_LOG="0")
    response = requests.get(
        f"{server.base_url}/predict", headers={"X-Request-ID": "quiet-1"}, timeout=5
    )
    assert response.status_code == 200
    assert server.stop() == 0  # after a clean stop every line that would be written is written
    entries = server.log_entries()
    assert any(e["message"] == "Shutting down: Master" for e in entries)  # the log is not empty
    assert not [e for e in entries if "access" in e["logger"]]


def test_access_line_does_not_follow_log_level(fresh_gunicorn):
    server = fresh_gunicorn(LOG_LEVEL="WARNING")
    requests.get(f"{server.base_url}/predict", headers={"X-Request-ID": "warn-1"}, timeout=5)
    access = server.wait_for_log_entry(lambda e: e.get("request_id") == "warn-1")
    assert access["logger"] == "predict_service.access"
    assert server.stop() == 0
    assert not [
        e for e in server.log_entries() if e["level"] == "INFO" and "access" not in e["logger"]
    ]


def test_gthread_remains_a_setting_away(fresh_gunicorn):
    """GUNICORN_WORKER_CLASS=gthread (for an app that adds blocking I/O) serves the same contract,
    the same body limit and the same single access line."""
    worker_class = "gthread"
    server = fresh_gunicorn(GUNICORN_WORKER_CLASS=worker_class)
    response = requests.get(
        f"{server.base_url}/predict", headers={"X-Request-ID": f"{worker_class}-1"}, timeout=5
    )
    assert (response.status_code, response.json()) == (200, {"score": 0.75})
    assert response.headers["X-Request-ID"] == f"{worker_class}-1"
    # The body limit holds here too (for a declared length: these workers buffer nothing).
    oversized = requests.post(
        f"{server.base_url}/predict", data=b"x" * (MAX_BODY_BYTES + 1), timeout=5
    )
    assert oversized.status_code == 413
    assert oversized.headers["Content-Type"] == "application/problem+json"
    assert server.stop() == 0
    entries = server.log_entries()
    assert f"Using worker: {worker_class}" in [e["message"] for e in entries]
    [access] = [e for e in entries if e.get("request_id") == f"{worker_class}-1"]
    assert access["logger"] == "predict_service.access"


def test_client_address_comes_from_a_trusted_proxy_only(gunicorn_server, fresh_gunicorn):
    """Behind the ALB (trusted through FORWARDED_ALLOW_IPS) the access line names the client the
    ALB saw; a peer that is not trusted cannot claim another address."""
    trusted = gunicorn_server  # loopback is trusted by default
    untrusted = fresh_gunicorn(FORWARDED_ALLOW_IPS="192.0.2.1")
    for server, expected in ((trusted, "203.0.113.7"), (untrusted, "127.0.0.1")):
        request_id = f"xff-{uuid.uuid4().hex}"
        headers = {"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.7"}
        requests.get(f"{server.base_url}/health", headers=headers, timeout=5)
        access = server.wait_for_log_entry(lambda e, rid=request_id: e.get("request_id") == rid)
        assert access["remote_addr"] == expected
        assert access["forwarded_for"] == "203.0.113.7"


def test_an_upgrade_request_is_answered_without_warnings(gunicorn_server):
    """No WebSocket routes (ws="none"): a handshake reaches the app, which answers it with a JSON
    400 (Werkzeug's WebsocketMismatch), and it is not log noise."""
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "X-Request-ID": "upgrade-1"}
    response = requests.get(f"{gunicorn_server.base_url}/health", headers=headers, timeout=5)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    gunicorn_server.wait_for_log_entry(lambda e: e.get("request_id") == "upgrade-1")
    assert not [e for e in gunicorn_server.log_entries() if e["level"] == "WARNING"]


def test_every_access_line_carries_its_request_as_emf_metrics(fresh_gunicorn):
    """200, 400, 404, 405 and 500 alike: each access line is a valid EMF record whose dimensions
    name the route template (one bucket for unmatched paths) and the status class. (That the
    templates read exactly these metrics: tests/infra/test_app_metrics_contract.py.)"""
    server = fresh_gunicorn("slow_app:create_slow_asgi_app()", SERVICE_NAME="emf-test")
    cases = [
        ("GET", "/predict", 200, "/predict"),
        ("GET", "/predict?x=1", 400, "/predict"),
        ("GET", "/nowhere/at/all", 404, "unmatched"),
        ("POST", "/health", 405, "/health"),
        ("GET", "/explode", 500, "/explode"),
    ]
    for method, path, status, route in cases:
        request_id = f"emf-{uuid.uuid4().hex}"
        response = requests.request(
            method, f"{server.base_url}{path}", headers={"X-Request-ID": request_id}, timeout=5
        )
        assert response.status_code == status
        line = server.wait_for_log_entry(
            lambda e, rid=request_id: e.get("request_id") == rid and "status" in e
        )
        assert emf_problems(line) == [], line
        assert (line["Service"], line["Route"], line["StatusClass"]) == (
            "emf-test",
            route,
            f"{status // 100}xx",
        )
        assert line["Requests"] == 1
        assert line["Latency"] == line["duration_ms"]
        assert abs(line["_aws"]["Timestamp"] / 1000 - time.time()) < 60
