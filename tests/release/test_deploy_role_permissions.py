"""The deploy role (cloudformation/github-oidc.yaml) allows every AWS call a release makes.

The calls are not listed by hand: a release runs against moto (the happy path with a push, and a
dry run) while a botocore hook records each request as the IAM action and resource it is
authorised on. The container builder's `docker push` talks to ECR's registry API, not through
boto3: those actions are the stated list ECR documents for a push. Each pair is then evaluated
against the DeployRole policy rendered with cloud-radar, by moto's IAM policy evaluator (a
maintained one, instead of hand-written wildcard matching)."""

from __future__ import annotations

import functools
import json

import boto3
import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult
from release_tool import registry
from release_tool.errors import ExitCode
from release_tool.output import Reporter
from release_tool.progress import Clock
from release_tool.release import Clients, Options, run

from tests.infra.conftest import oidc_params, render
from tests.release.stand_in import NEW_TAG, STACK, play_cloudformation_for_ecs, put_image

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's account
REPOSITORY_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/predict-api"
# What `docker/podman push` calls after `login` with the token from ecr:GetAuthorizationToken
# (the ECR user guide's push permissions); BatchGetImage: the builder reads the manifest back.
DOCKER_PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
]
# AWS documents that no permission is needed (and none can deny it).
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def iam_resources(action: str, params: dict, stack_arn: str) -> list[str]:
    """The resource ARN(s) IAM authorises `action` on (Service Authorization Reference)."""
    service, operation = action.split(":")
    if service == "cloudformation":
        # Change-set actions are authorised on the stack; a change set ARN alone means ours.
        name = params.get("StackName", stack_arn)
        return [name if name.startswith("arn:") else stack_arn]
    if action in {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition"}:
        return ["*"]  # no resource-level permissions
    if service == "ecr":
        return [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{params['repositoryName']}"]
    if operation == "DescribeServices":
        cluster = params["cluster"]
        return [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{s}" for s in params["services"]]
    if operation == "DescribeClusters":
        return [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{c}" for c in params["clusters"]]
    raise AssertionError(f"no resource mapping for {action}: add one so that it is checked")


class CallRecorder:
    """Records "service:Operation" (the IAM action: signing name + operation) and its params."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def attach(self, clients: Clients) -> Clients:
        for aws_client in vars(clients).values():
            aws_client.meta.events.register("provide-client-params.*.*", self._record)
        return clients

    def _record(self, params: dict, model, **_kwargs) -> None:
        self.calls.append((f"{model.service_model.signing_name}:{model.name}", dict(params)))


def fake_builder(argv, **_kwargs):
    """Stands in for docker: `push` leaves the image in moto's ECR, as the real push would."""
    if argv[1] == "push":
        put_image(argv[2].rsplit(":", 1)[1])
    return registry.subprocess.CompletedProcess(argv, 0, stdout="")


@pytest.fixture
def recorded_release(stand_in_stack, health_server, monkeypatch) -> tuple[list, str]:
    """A dry run, then the real release with a push, both against moto; their AWS calls."""
    monkeypatch.setattr(registry, "push", functools.partial(registry.push, run=fake_builder))
    recorder = CallRecorder()
    options = {
        "stack_name": STACK,
        "tag": NEW_TAG,
        "local_image": f"predict-api:{NEW_TAG}",
        "builder": "docker",
        "poll_interval": 0,
        "health_delay": 0,
        "clock": Clock(sleep=lambda _s: None),
    }
    for dry_run in (True, False):
        session = boto3.session.Session()
        play_cloudformation_for_ecs(session)  # its own clients: not recorded
        clients = recorder.attach(Clients.from_session(session, None))
        assert run(clients, Options(**options, dry_run=dry_run), Reporter()) == ExitCode.OK
    return recorder.calls, stand_in_stack["StackId"]


def deploy_role_policy(**params) -> IAMPolicy:
    stack = render("github-oidc.yaml", oidc_params(RepositoryArn=REPOSITORY_ARN, **params))
    (policy,) = stack["Resources"]["DeployRole"]["Properties"]["Policies"]
    return IAMPolicy(json.dumps(policy["PolicyDocument"]))


def needed(calls: list, stack_arn: str) -> set[tuple[str, str]]:
    pairs = {
        (action, resource)
        for action, params in calls
        if action not in NEEDS_NO_PERMISSION
        for resource in iam_resources(action, params, stack_arn)
    }
    return pairs | {(action, REPOSITORY_ARN) for action in DOCKER_PUSH_ACTIONS}


def refused(policy: IAMPolicy, pairs: set[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(
        (action, resource)
        for action, resource in pairs
        if policy.is_action_permitted(action, resource) != PermissionResult.PERMITTED
    )


def test_the_recording_sees_the_release_calls(recorded_release):
    calls, _ = recorded_release
    actions = {action for action, _ in calls}
    assert {
        "sts:GetCallerIdentity",
        "cloudformation:DescribeStacks",
        "cloudformation:CreateChangeSet",
        "cloudformation:DescribeChangeSet",
        "cloudformation:DeleteChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DescribeStackEvents",
        "ecr:DescribeImages",
        "ecr:GetAuthorizationToken",
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
    } <= actions


def test_the_deploy_role_allows_every_call_a_release_makes(recorded_release):
    calls, stack_arn = recorded_release
    assert refused(deploy_role_policy(), needed(calls, stack_arn)) == []


def test_the_check_notices_a_missing_permission_and_a_foreign_resource(recorded_release):
    """The evaluation can fail: another stack name scopes every stack and service ARN away."""
    calls, stack_arn = recorded_release
    missing = refused(deploy_role_policy(RootStackName="other-api"), needed(calls, stack_arn))
    assert ("cloudformation:ExecuteChangeSet", stack_arn) in missing
    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{STACK}/{STACK}"
    assert ("ecs:DescribeServices", service) in missing
    assert ("ecr:PutImage", REPOSITORY_ARN) not in missing  # the repository is still ours
