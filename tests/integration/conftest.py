"""A real Gunicorn, started from gunicorn.conf.py on a free loopback port, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.dockerfile import python_env
from tests.helpers import (
    REPO_ROOT,
    VENV_BIN,
    default_signal_dispositions,
    free_port,
    wait_for_http,
)

HERE = Path(__file__).resolve().parent


@dataclass
class GunicornServer:
    process: subprocess.Popen
    base_url: str
    log_path: Path
    stderr_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log_lines(self) -> list[str]:
        """Complete lines only: Gunicorn may be writing the last one while we read."""
        return self.log_path.read_text().split("\n")[:-1]

    def log_entries(self) -> list[dict]:
        """Every stdout line, parsed: a plain-text line fails the test here."""
        return [json.loads(line) for line in self.log_lines()]

    def wait_for_log_entry(self, predicate, timeout: float = 5.0) -> dict:
        """The first log entry matching predicate; Gunicorn writes the access line just after the
        response, so a test that reads at once can be a moment early."""
        deadline = time.monotonic() + timeout
        while True:
            matches = [entry for entry in self.log_entries() if predicate(entry)]
            if matches:
                return matches[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no log entry matched within {timeout} s")
            time.sleep(0.05)

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def wait_for_workers(
        self, count: int, exclude: int | None = None, timeout: float = 15
    ) -> set[int]:
        """Worker pids once there are count of them (none of them exclude)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) == count and exclude not in pids:
                return pids
            if time.monotonic() > deadline:
                raise AssertionError(f"workers are {pids}, wanted {count} without {exclude}")
            time.sleep(0.05)

    def interrupt(self) -> None:
        """What Ctrl-C in the terminal does: SIGINT to the whole foreground group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_gunicorn(tmp_path: Path, app: str | None = None, **env: str) -> GunicornServer:
    """gunicorn -c gunicorn.conf.py [app], bound to 127.0.0.1, stdout to a file (as a container
    runtime takes it)."""
    port = free_port()
    full_env = {
        **os.environ,
        **python_env(),  # as the image runs it (PYTHONOPTIMIZE=2): proven under the same flags
        "PORT": str(port),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "PYTHONPATH": str(HERE),  # for the test-only app in slow_app.py
        **env,
    }
    command = [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    if app:
        command.append(app)
    log_path = tmp_path / f"gunicorn-{port}.stdout"
    stderr_path = tmp_path / f"gunicorn-{port}.stderr"
    with open(log_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=full_env,
            stdout=stdout,
            stderr=stderr,
            # Its own process group, as a terminal's foreground job: Ctrl-C reaches the master
            # and its workers alike (os.killpg), whatever this run ignores.
            process_group=0,
            preexec_fn=default_signal_dispositions,
        )
    server = GunicornServer(process, f"http://127.0.0.1:{port}", log_path, stderr_path, env)
    try:
        wait_for_http(f"{server.base_url}/health", timeout=20, process=process)
    except Exception:
        server.stop()
        raise RuntimeError(f"gunicorn did not start: {stderr_path.read_text()}") from None
    return server


@pytest.fixture(scope="module")
def gunicorn_server(tmp_path_factory):
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn"))
    yield server
    server.stop()


@pytest.fixture
def fresh_gunicorn(tmp_path):
    """A server of one's own, for tests that signal or kill it. Call it with an app and env."""
    started: list[GunicornServer] = []

    def start(app: str | None = None, **env: str) -> GunicornServer:
        server = start_gunicorn(tmp_path, app, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
