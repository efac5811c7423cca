"""`release.sh infra` on a stack whose service moves traffic step by step (CANARY): an update that
changes the service starts an ECS service deployment, which the deploy follows and judges as a
release does (the stand-in for service deployments: tests/release/progressive_stand_in.py), and
never takes another deployment of the service for its own."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import decode_str
from release_tool import cli, package
from release_tool.errors import ExitCode

from tests.release.conftest import load
from tests.release.progressive_stand_in import (
    ALARMS,
    ARN,
    OLD_DEPLOYMENT,
    SERVICE_ARN,
    DeploymentPlayer,
    canary_until,
    older,
    play_service_deployments,
    snapshot,
)
from tests.release.stand_in import OLD_TAG, REPO_ROOT, STACK, STAND_IN_TEMPLATE

BUCKET = "predict-api-artifacts-123456789012-us-east-1"  # the default: moto's account id
FAILED = f"{ARN}:service-deployment/predict-api/predict-api/fail2222222222222222"
MEANWHILE = f"{ARN}:service-deployment/predict-api/predict-api/fail3333333333333333"


@pytest.fixture
def infra_stand_in(aws_env, tmp_path, monkeypatch) -> Path:
    """root.yaml's parameters and mappings over the release stand-in's ECR repository, cluster and
    service (moto cannot run the nested stacks), its service's DesiredCount root.yaml's; created
    as a release leaves it (ImageTag set, the load balancer protected)."""
    resources, _ = decode_str(STAND_IN_TEMPLATE)
    resources = json.loads(json.dumps(resources))
    resources["Resources"]["Service"]["Properties"]["DesiredCount"] = {"Ref": "DesiredCount"}
    del resources["Outputs"]["ServiceUrl"]  # from HealthUrl, a parameter root.yaml does not have
    root = load("root.yaml")
    template = {**resources, "Parameters": root["Parameters"], "Mappings": root["Mappings"]}
    path = tmp_path / "cfn" / "root.yaml"
    path.parent.mkdir()
    path.write_text(json.dumps(template))
    monkeypatch.setattr(package, "ROOT_TEMPLATE", path)
    values = {
        "GitHubRepository": "my-org/predict-api",
        "ImageTag": OLD_TAG,
        "DeletionProtection": "true",
        "ArtifactsBucketName": BUCKET,
    }
    boto3.client("cloudformation").create_stack(
        StackName=STACK,
        TemplateBody=path.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )
    return path


def more_tasks(tmp_path: Path) -> Path:
    """The example parameters file made the user's own, with one more task: the service changes."""
    example = json.loads((REPO_ROOT / "cloudformation" / "parameters.example.json").read_text())
    values = {**example, "GitHubRepository": "my-org/predict-api", "DesiredCount": "3"}
    path = tmp_path / "parameters.json"
    path.write_text(json.dumps(values))
    return path


def service_event_once_executed(session: boto3.session.Session, player: DeploymentPlayer) -> None:
    """moto's stack update writes the stack's own events only; CloudFormation also writes one for
    each resource it updates, so the deploy learns the service from its UPDATE_IN_PROGRESS event
    (PhysicalResourceId: what Ref returns, the service ARN for AWS::ECS::Service, CloudFormation
    User Guide, AWS::ECS::Service "Return values")."""

    def add_event(parsed, **_kwargs):
        events = parsed.get("StackEvents")
        if not player.started or not events:
            return
        event = {
            **events[0],
            "EventId": "service-update-in-progress",
            "LogicalResourceId": "Service",
            "PhysicalResourceId": SERVICE_ARN,
            "ResourceType": "AWS::ECS::Service",
            "ResourceStatus": "UPDATE_IN_PROGRESS",
            "Timestamp": player.started,
        }
        events.insert(0, event)  # newest first

    session.events.register("after-call.cloudformation.DescribeStackEvents", add_event)


def failed_while_the_change_set_is_made(
    session: boto3.session.Session, player: DeploymentPlayer
) -> None:
    """A deployment of the service that fails after the deploy started, before it executes the
    change set (someone's `aws ecs update-service` while the change set was made)."""

    def add(**_kwargs):
        player.history.append(
            older(MEANWHILE, "ROLLBACK_SUCCESSFUL", 0, breaker="TRIGGERED", rollback="tasks failed")
        )

    session.events.register("after-call.cloudformation.CreateChangeSet", add)


@pytest.mark.slow
def test_an_infra_update_follows_the_service_deployment_it_starts_not_an_older_failed_one(
    infra_stand_in, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("RELEASE_POLL_SECONDS", "0")
    history = [
        older(FAILED, "ROLLBACK_SUCCESSFUL", 2, alarms="TRIGGERED", triggered=[ALARMS[0]],
              rollback="CloudWatch alarm triggered"),
        older(OLD_DEPLOYMENT, "SUCCESSFUL", 1),
    ]  # fmt: skip
    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]
    session = boto3.session.Session()
    player = play_service_deployments(session, "CANARY", script, history)
    service_event_once_executed(session, player)
    failed_while_the_change_set_is_made(session, player)
    argv = ["infra", "--parameters", str(more_tasks(tmp_path)), "--timeout", "30"]
    code = cli.main(argv, session=session)
    printed = capsys.readouterr()
    assert code == ExitCode.OK, printed.out + printed.err
    assert "deployment new1111111111111111: CANARY, at least 20 min" in printed.out
    assert "deployment new1111111111111111 SUCCESSFUL stage CLEAN_UP" in printed.out
    assert player.shown == len(script)  # followed to its end
    assert "fail2222" not in printed.out + printed.err
    assert "fail3333" not in printed.out + printed.err
    # Asked for the deployments created since just before the change set executed.
    since = {request["createdAt"]["after"] for request in player.list_requests}
    assert since and max(since) <= player.started.timestamp()
    assert min(since) > max(deployment["createdAt"].timestamp() for deployment in player.history)
    assert player.history[-1]["serviceDeploymentArn"] == MEANWHILE


@pytest.mark.slow
def test_an_infra_update_whose_service_deployment_rolls_back_fails_with_its_exit_code(
    infra_stand_in, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("RELEASE_POLL_SECONDS", "0")
    script = [
        *canary_until("CLEAN_UP"),
        snapshot("ROLLBACK_IN_PROGRESS", "BAKE_TIME", production=0, test=0, alarms="TRIGGERED",
                 triggered=[ALARMS[0]], rollback="CloudWatch alarm triggered"),
        snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", production=0, test=0, alarms="TRIGGERED",
                 triggered=[ALARMS[0]], rollback="CloudWatch alarm triggered"),
    ]  # fmt: skip
    session = boto3.session.Session()
    service_event_once_executed(session, play_service_deployments(session, "CANARY", script))
    argv = ["infra", "--parameters", str(more_tasks(tmp_path)), "--timeout", "30"]
    code = cli.main(argv, session=session)
    err = capsys.readouterr().err
    assert code == ExitCode.ALARM_ROLLBACK, err
    assert f"deployment alarm {ALARMS[0]} went into ALARM during BAKE_TIME" in err
