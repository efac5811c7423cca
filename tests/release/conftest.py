"""Release fixtures: the stand-in root stack in moto (stand_in.py) and a /health endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from tests.conftest import REPO_ROOT, free_port, local_aws_environment, wait_for_http
from tests.release.stand_in import ARTIFACTS_BUCKET, OLD_TAG, STACK, STAND_IN_TEMPLATE, put_image


@dataclass
class HealthServer:
    url: str
    status: int = 200
    body: dict = field(default_factory=lambda: {"status": "ok"})
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def health_server():
    """A stand-in for the load balancer in front of the service: answers GET /health."""
    state = HealthServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.hits.append(self.path)
            payload = json.dumps(state.body).encode()
            self.send_response(state.status if self.path == "/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def stand_in_stack(aws_env, health_server) -> dict:
    """The root stack as a release finds it: created, running OLD_TAG, OLD_TAG in ECR."""
    cfn = boto3.client("cloudformation")
    cfn.create_stack(
        StackName=STACK,
        TemplateBody=STAND_IN_TEMPLATE,
        Parameters=[
            {"ParameterKey": "ImageTag", "ParameterValue": OLD_TAG},
            {"ParameterKey": "ArtifactsBucketName", "ParameterValue": ARTIFACTS_BUCKET},
            {"ParameterKey": "HealthUrl", "ParameterValue": health_server.url},
        ],
    )
    put_image(OLD_TAG)
    return cfn.describe_stacks(StackName=STACK)["Stacks"][0]


@pytest.fixture
def fresh_account(tmp_path, monkeypatch):
    """A moto_server of its own that plays an account which never used ECS
    (fresh_account_moto.py), with every AWS client of this test pointed at it."""
    port = free_port()
    log = open(tmp_path / "fresh-moto.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fresh_account_moto.py")), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    endpoint = f"http://localhost:{port}"
    try:
        wait_for_http(f"{endpoint}/moto-api/", timeout=30, process=process)
        for name, value in local_aws_environment(endpoint, tmp_path).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
