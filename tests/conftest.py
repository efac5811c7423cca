"""Fixtures shared by every test layer: the Flask app, and a local AWS (moto_server) on loopback."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from predict_service import create_app
from tests.helpers import VENV_BIN, local_aws_environment, running_moto


@pytest.fixture
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    """A real moto_server for the whole session. MOTO_ECS_SERVICE_RUNNING makes services report
    running tasks, so services_stable can pass."""
    command = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p"]
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with running_moto(command, log_path, {**os.environ, "MOTO_ECS_SERVICE_RUNNING": "2"}) as url:
        yield url


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch, tmp_path) -> str:
    """Point every AWS client at a freshly reset moto_server; never at AWS."""
    reset_moto(moto_endpoint)
    for name, value in local_aws_environment(moto_endpoint, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint
