"""Release fixtures (the stand-in root stack in moto, see stand_in.py; a /health endpoint) and the
helpers the release tests share."""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from release_tool import cli
from release_tool.deadline import Clock
from release_tool.output import Reporter
from release_tool.release import Clients, Options, run

from tests.helpers import (
    REPO_ROOT,
    local_aws_environment,
    running_moto,
    skip_or_fail,  # noqa: F401 - for this folder's tests
)
from tests.hosted_zones import hosted_zone  # noqa: F401 - for this folder's tests
from tests.iam_policy import allows  # noqa: F401 - for this folder's tests
from tests.release.progressive_stand_in import DeploymentPlayer, play_service_deployments
from tests.release.stand_in import (
    ARTIFACTS_BUCKET,
    NEW_TAG,
    OLD_TAG,
    STACK,
    STAND_IN_TEMPLATE,
    play_cloudformation_for_ecs,
    put_image,
)
from tests.templates import (  # noqa: F401 - for this folder's tests
    delivery_params,
    load,
    oidc_params,
    render,
    service_params,
)

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's account
REPOSITORY_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/predict-api"


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
    command = [sys.executable, str(Path(__file__).with_name("fresh_account_moto.py"))]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with running_moto(command, tmp_path / "fresh-moto.log", env) as endpoint:
        for name, value in local_aws_environment(endpoint, tmp_path).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield endpoint


class FakeClock(Clock):
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        super().__init__(monotonic=lambda: self.now, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_session() -> tuple[boto3.session.Session, list[dict]]:
    """A session (pointed at moto by aws_env) that records every CreateChangeSet request."""
    session = boto3.session.Session()
    requests: list[dict] = []
    session.events.register(
        "provide-client-params.cloudformation.CreateChangeSet",
        lambda params, **_: requests.append(dict(params)),
    )
    return session, requests


def options(**overrides) -> Options:
    """A release's options on a fake clock that each wait moves on: no test waits in earnest, and
    a wait that never ends runs into --timeout (at most 1800 / 10 polls) instead of hanging."""
    values = {
        "stack_name": STACK,
        "tag": NEW_TAG,
        "poll_interval": 10,
        "health_delay": 0,
        "health_attempts": 2,
        "clock": FakeClock(),
    }
    return Options(**{**values, **overrides})


def stack_parameters() -> dict[str, str]:
    found = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}


def release(script: list[dict], strategy: str = "CANARY", **overrides):
    """A release against the stand-in whose ECS service deployment follows `script`."""
    put_image(overrides.get("tag", NEW_TAG))
    session = boto3.session.Session()
    play_cloudformation_for_ecs(session)
    player = play_service_deployments(session, strategy, script)
    code = run(Clients.from_session(session, None), options(**overrides), Reporter())
    return code, player


def release_cli(
    script: list[dict],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    strategy: str = "CANARY",
    history: list[dict] | None = None,
    poll_seconds: float = 0,
    session: boto3.session.Session | None = None,
) -> tuple[int, DeploymentPlayer]:
    """`scripts/release.sh --no-build --tag NEW_TAG ARGS` (cli.main) against the stand-in whose
    ECS service deployment follows `script`, after the service's `history` (a list the caller
    may add to while the release runs, through its `session`'s events)."""
    monkeypatch.setenv("RELEASE_POLL_SECONDS", str(poll_seconds))
    put_image(NEW_TAG)
    session = session or boto3.session.Session()
    play_cloudformation_for_ecs(session)
    player = play_service_deployments(session, strategy, script, history)
    return cli.main(["--no-build", "--tag", NEW_TAG, *args], session=session), player


class CallRecorder:
    """Records "service:Operation" (the IAM action: signing name + operation) and its params."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def attach(self, clients: Clients) -> Clients:
        for aws_client in vars(clients).values():
            self.attach_client(aws_client)
        return clients

    def attach_client(self, aws_client):
        aws_client.meta.events.register("provide-client-params.*.*", self._record)
        return aws_client

    def _record(self, params: dict, model, **_kwargs) -> None:
        self.calls.append((f"{model.service_model.signing_name}:{model.name}", dict(params)))


def deploy_role_policy(**params) -> dict:
    stack = render("github-oidc.yaml", oidc_params(RepositoryArn=REPOSITORY_ARN, **params))
    (policy,) = stack["Resources"]["DeployRole"]["Properties"]["Policies"]
    return json.loads(json.dumps(policy["PolicyDocument"]))
