"""Plain helpers several test folders share, in a module of their own so that no folder imports
the root conftest.py (pytest loads that one itself): where the repository and the venv's tools
are, skipping what this machine cannot run, a free loopback port, waiting for a server, and a
local AWS (moto_server) to point clients at. A folder's conftest.py passes on what its tests
take."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def skip_or_fail(reason: str) -> None:
    """A test this machine cannot run skips with its reason; under REQUIRE_ALL_CHECKS=1 (.ci/run)
    it fails instead, as scripts/skip-or-fail.sh does for whole steps."""
    if os.environ.get("REQUIRE_ALL_CHECKS") == "1":
        pytest.fail(f"cannot run here (REQUIRE_ALL_CHECKS=1): {reason}", pytrace=False)
    pytest.skip(reason)


def default_signal_dispositions() -> None:
    """preexec_fn for a child a test will signal. A run started with SIGINT or SIGTERM ignored
    (`nohup make test`, `make test &` in a script) passes SIG_IGN on through exec, and a shell
    cannot trap a signal ignored at its start: the child would never see the signal."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_DFL)


def free_port() -> int:
    """A loopback port for a server a test starts, held back from every other bind(0) for a minute.

    A port that is merely free now can be handed to a parallel test worker's server before ours
    binds it (then both talk to one server). This one is left in TIME_WAIT by a connection its
    side closed first: Linux hands it to no bind(0) until that ends, while a server that sets
    SO_REUSEADDR (Gunicorn, moto's Werkzeug) binds it at once. The trick of ephemeral-port-reserve,
    written out here because that package has not been released since 2021.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:  # SO_REUSEADDR, as the servers set
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # first: the TIME_WAIT stays on this side, the port's
        return port


def wait_for_http(url: str, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    """Poll url until it answers, failing early (with the output) if process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout} s")


@contextlib.contextmanager
def running_moto(command: list[str], log_path: Path, env: dict[str, str]) -> Iterator[str]:
    """Start a moto_server command on a free port of 127.0.0.1, yield its URL, stop it after.

    The URL uses the word localhost: moto resolves S3 TemplateURLs only for that host name.
    """
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command, str(port)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://localhost:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", timeout=30, process=process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def local_aws_environment(endpoint: str, scratch: Path) -> dict[str, str]:
    """Environment variables that point every AWS client (boto3, the aws CLI) at endpoint and never
    at AWS: dummy keys, one region, and empty config files in scratch instead of ~/.aws."""
    empty = scratch / "aws-empty-config"
    empty.write_text("")
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any key
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # moto answers some errors with 500s; a retry would repeat half a call.
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
    }
