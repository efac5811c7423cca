"""How the process behaves when ECS stops it, when a worker dies, and when it is misconfigured."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from tests.helpers import REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.integration

SLOW_APP = "slow_app:create_slow_asgi_app()"
GRACEFUL_TIMEOUT = 20  # gunicorn.conf.py's default


def test_sigterm_lets_the_in_flight_request_finish(fresh_gunicorn):
    server = fresh_gunicorn(SLOW_APP)
    result = {}

    def call():
        result["response"] = requests.get(f"{server.base_url}/slow/2.0", timeout=30)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.7)  # the request is now inside the worker
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    caller.join(timeout=30)
    exit_code = server.process.wait(timeout=GRACEFUL_TIMEOUT + 5)
    elapsed = time.monotonic() - started

    assert result["response"].status_code == 200
    assert result["response"].json() == {"slept": 2.0}
    assert exit_code == 0
    assert elapsed < GRACEFUL_TIMEOUT
    assert any(e["message"] == "Handling signal: term" for e in server.log_entries())


@pytest.mark.parametrize(
    "stop", ["SIGTERM to the master", "Ctrl-C (SIGINT to the group)", "SIGINT to the master alone"]
)
def test_a_clean_stop_logs_info_lines_only(fresh_gunicorn, stop):
    # A log-based alarm (or a newcomer) reads ERROR and WARNING lines, and "Bad file descriptor",
    # as trouble: an ordinary stop must leave none.
    server = fresh_gunicorn()
    server.wait_for_workers(2)
    serving = time.monotonic() + 15  # both workers' event loops run (a booting one is not stopping)
    while sum(e["message"].startswith("Started server process") for e in server.log_entries()) < 2:
        assert time.monotonic() < serving, "the workers did not start serving"
        time.sleep(0.05)
    assert requests.get(f"{server.base_url}/predict", timeout=5).status_code == 200
    if stop.startswith("SIGTERM"):
        server.process.send_signal(signal.SIGTERM)
    elif stop.startswith("Ctrl-C"):
        server.interrupt()
    else:  # Gunicorn's quick shutdown: it sends its workers SIGQUIT
        server.process.send_signal(signal.SIGINT)
    exit_code = server.process.wait(timeout=GRACEFUL_TIMEOUT + 5)

    entries = server.log_entries()
    assert exit_code == 0
    assert any(e["message"] == "Shutting down: Master" for e in entries)
    assert {e["level"] for e in entries} == {"INFO"}, [e for e in entries if e["level"] != "INFO"]
    noisy = [e["message"] for e in entries if "Bad file descriptor" in e["message"]]
    noisy += [e["message"] for e in entries if " was sent SIG" in e["message"]]
    assert noisy == []
    assert server.stderr_path.read_text() == ""


def test_sigterm_cancels_a_stalled_request_before_the_master_would_kill_the_worker(fresh_gunicorn):
    # A client that declared a body and stopped sending keeps its request in flight for ever.
    server = fresh_gunicorn(GUNICORN_CMD_ARGS="--graceful-timeout 3")
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        time.sleep(0.5)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        exit_code = server.process.wait(timeout=15)
        elapsed = time.monotonic() - started

    messages = [entry["message"] for entry in server.log_entries()]
    assert exit_code == 0
    # The worker gave up on the request itself: without the worker's bound uvicorn waits for ever
    # and only the master's kill at 3 s ends it, with no such line.
    assert any(m.startswith("Cancel 1 running task(s)") for m in messages), messages
    assert elapsed < 3 + 5  # a bound for a busy machine; the line above tells the cases apart


def test_a_request_may_block_the_worker_until_one_second_short_of_the_timeout(fresh_gunicorn):
    # 4.2 s of a 6 s timeout, from four workers whose last heartbeat is anywhere in its cycle:
    # when the worker reported only every timeout/2 (uvicorn-worker's own pace), most were killed.
    server = fresh_gunicorn(SLOW_APP, GUNICORN_CMD_ARGS="--timeout 6", WEB_CONCURRENCY="4")
    server.wait_for_workers(4)
    time.sleep(1.2)
    results: list[int | str] = []

    def call():
        try:
            results.append(requests.get(f"{server.base_url}/slow/4.2", timeout=15).status_code)
        except requests.RequestException as error:
            results.append(type(error).__name__)

    callers = [threading.Thread(target=call) for _ in range(4)]
    for caller in callers:
        caller.start()
        time.sleep(0.3)  # different phases of the heartbeat
    for caller in callers:
        caller.join(timeout=20)

    assert results == [200, 200, 200, 200]
    assert not any("WORKER TIMEOUT" in entry["message"] for entry in server.log_entries())


def test_killed_worker_is_replaced_and_service_keeps_answering(fresh_gunicorn):
    server = fresh_gunicorn(WEB_CONCURRENCY="3")
    before = server.wait_for_workers(3)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    after = server.wait_for_workers(3, exclude=victim)
    assert victim not in after
    for _ in range(10):
        assert requests.get(f"{server.base_url}/predict", timeout=5).json() == {"score": 0.75}


# Each bad value, the variable the line must name, and a phrase saying what it accepts.
BAD_SETTINGS = [
    ({"PREDICT_SCORE": "1.5"}, "PREDICT_SCORE", "less than or equal to 1"),
    ({"PREDICT_SCORE": "high"}, "PREDICT_SCORE", "number"),
    ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL", "INFO"),
    ({"HSTS_MAX_AGE": "-1"}, "HSTS_MAX_AGE", "0"),
    ({"EMF_METRICS": "maybe"}, "EMF_METRICS", "boolean"),
    ({"GUNICORN_WORKER_CLASS": "eventlet"}, "GUNICORN_WORKER_CLASS", "uvicorn, gthread"),
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY", "greater than or equal to 1"),
    ({"PORT": "70000"}, "PORT", "1 and less than or equal to 65535"),
    ({"PORT": "0"}, "PORT", "65535"),
    ({"PORT": "abc"}, "PORT", "integer"),
    ({"CORS_ALLOWED_ORIGINS": "example.com"}, "CORS_ALLOWED_ORIGINS", "scheme://host"),
    ({"ACCESS_LOG": "sometimes"}, "ACCESS_LOG", "boolean"),
]


def assert_one_line_naming(completed: subprocess.CompletedProcess, variable: str, accepts: str):
    assert completed.returncode != 0
    stderr_lines = completed.stderr.strip().splitlines()
    assert len(stderr_lines) == 1, completed.stderr
    assert f"invalid setting {variable}=" in stderr_lines[0]
    assert accepts.lower() in stderr_lines[0].lower()
    assert "Traceback" not in completed.stderr + completed.stdout


@pytest.mark.parametrize("env, variable, accepts", BAD_SETTINGS)
def test_bad_setting_stops_start_up_with_one_line(env, variable, accepts):
    # No --bind: the master must refuse PORT before it binds.
    completed = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert_one_line_naming(completed, variable, accepts)


# Gunicorn reads these when it is imported or before any config file runs: a non-number ends in
# its traceback, the others in a line that does not name the variable. `make run` checks the
# settings without Gunicorn first.
MAKE_OWN = {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}  # an outer make's, when this suite runs under one


@pytest.mark.parametrize(
    "env, variable, accepts",
    [
        ({"WEB_CONCURRENCY": "abc"}, "WEB_CONCURRENCY", "integer"),
        ({"WEB_CONCURRENCY": "-1"}, "WEB_CONCURRENCY", "greater than or equal to 1"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.0/8,vpc"}, "FORWARDED_ALLOW_IPS", "IP address or network"),
    ],
)
def test_make_run_checks_what_gunicorn_reads_before_its_config(env, variable, accepts):
    completed = subprocess.run(
        ["make", "--no-print-directory", "run"],
        cwd=REPO_ROOT,
        # As a user's shell runs it, also when this suite runs under `make test`.
        env={k: v for k, v in os.environ.items() if k not in MAKE_OWN} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    completed.stderr = "".join(  # make's own "make: *** [run] Error 1" trailer aside
        line for line in completed.stderr.splitlines(keepends=True) if "make: ***" not in line
    )
    assert_one_line_naming(completed, variable, accepts)
