"""What moto cannot play, replayed with botocore's Stubber (real clients, canned AWS answers, no
network); the one test module that keeps Stubber. moto 5.2 never rolls a stack back, never fails
an update, has no circuit breaker, deployment alarms, throttling or scan states, and cannot run the
nested stacks whose events show a first release's new service. So here: a rolled-back update, the
circuit breaker, an alarm rollback, a timeout, a busy or broken stack, the ECR scan's states, and
the first release following the service that appears in a nested stack's events."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError
from botocore.stub import ANY, Stubber
from release_tool import cli, scan, stack
from release_tool.deadline import Clock, Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.outcome import judge
from release_tool.output import Reporter
from release_tool.progress import wait_until_final
from release_tool.release import Clients, Options, is_role, preflight, run
from release_tool.rollout import RolloutWatcher
from release_tool.stack_events import StackWatcher

from tests.release.conftest import FakeClock

REGION = "us-east-1"
ROOT_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/predict-api/1111"
NESTED_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/predict-api-ServiceStack-X/2222"
SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/predict-api/predict-api"
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/predict-api"
OLD, NEW = "a" * 40, "b" * 40
TASK_DEFINITION_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/predict-api"
T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def client(name: str):
    credentials = {"aws_access_key_id": "stub", "aws_secret_access_key": "stub"}  # never sent
    return boto3.client(name, region_name=REGION, **credentials)


def event(event_id, seconds, logical, status, *, kind="AWS::CloudFormation::Stack", **extra):
    stack_id = extra.pop("stack_id", ROOT_ID)
    found = {
        "StackId": stack_id,
        "StackName": stack_id.split("/")[1],
        "EventId": event_id,
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "Timestamp": T0 + timedelta(seconds=seconds),
    }
    if "reason" in extra:
        found["ResourceStatusReason"] = extra["reason"]
    if "physical" in extra:
        found["PhysicalResourceId"] = extra["physical"]
    return found


def stack_status(
    status: str,
    image_tag: str = OLD,
    service_url: str | None = "http://127.0.0.1:9",
    extra_outputs: dict[str, str] | None = None,
) -> dict:
    """The root as describe_stacks shows it; the service's outputs only once it exists."""
    outputs = {"RepositoryUri": REPO, "RepositoryName": "predict-api", **(extra_outputs or {})}
    if service_url:
        outputs |= {
            "ClusterName": "predict-api",
            "ServiceName": "predict-api",
            "ServiceUrl": service_url,
        }
    return {
        "Stacks": [
            {
                "StackId": ROOT_ID,
                "StackName": "predict-api",
                "StackStatus": status,
                "CreationTime": T0,
                "Parameters": [
                    {"ParameterKey": "ImageTag", "ParameterValue": image_tag},
                    {"ParameterKey": "ArtifactsBucketName", "ParameterValue": "artifacts"},
                ],
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def wait_from_e0(cfn, *, ecs, timeout: int, poll_interval: int, clock) -> None:
    """wait_for_update on the root stack, following events after "e0" (what the tests stub)."""
    wait_for_update(
        cfn,
        StackWatcher(cfn, ROOT_ID, "e0"),
        RolloutWatcher(ecs=ecs),
        Reporter(),
        Deadline(timeout, clock),
        poll_interval,
        "predict-api",
    )


def deployment(status, revision, rollout, running, pending, failed=0, reason=None) -> dict:
    found = {
        "id": f"ecs-svc/{revision}",
        "status": status,
        "taskDefinition": f"{TASK_DEFINITION_ARN}:{revision}",
        "desiredCount": 2,
        "runningCount": running,
        "pendingCount": pending,
        "failedTasks": failed,
        "rolloutState": rollout,
    }
    if reason:
        found["rolloutStateReason"] = reason
    return found


def services(*deployments, events=()) -> dict:
    return {
        "services": [
            {
                "serviceName": "predict-api",
                "serviceArn": SERVICE_ARN,
                "status": "ACTIVE",
                "deployments": list(deployments),
                "events": [
                    {"id": event_id, "createdAt": T0, "message": message}
                    for event_id, message in events
                ],
            }
        ],
        "failures": [],
    }


def wait_for_update(cfn, stack, rollout, *args) -> str:
    """Watch until the stack is final, then decide, as a release does."""
    return judge(wait_until_final(cfn, stack, rollout, *args), stack, rollout)


def root_events(*events) -> tuple[str, dict, dict]:
    return ("describe_stack_events", {"StackEvents": list(events)}, {"StackName": ROOT_ID})


def nested_events(*events) -> tuple[str, dict, dict]:
    return ("describe_stack_events", {"StackEvents": list(events)}, {"StackName": NESTED_ID})


def describe(status: str) -> tuple[str, dict, dict]:
    return ("describe_stacks", stack_status(status), {"StackName": ROOT_ID})


BASELINE = event("e0", -600, "predict-api", "UPDATE_COMPLETE", physical=ROOT_ID)


def test_a_rolled_back_update_prints_the_failing_events_and_exits_9(capsys):
    cfn = client("cloudformation")
    failed = event(
        "e2",
        40,
        "TaskDefinition",
        "UPDATE_FAILED",
        kind="AWS::ECS::TaskDefinition",
        reason="Resource handler returned message: Invalid request provided: Create TaskDefinition",
    )
    with Stubber(cfn) as stub:
        for method, response, params in [
            describe("UPDATE_IN_PROGRESS"),
            root_events(event("e1", 1, "predict-api", "UPDATE_IN_PROGRESS"), BASELINE),
            describe("UPDATE_ROLLBACK_COMPLETE"),
            root_events(
                event("e3", 90, "predict-api", "UPDATE_ROLLBACK_COMPLETE"),
                failed,
                event("e1", 1, "predict-api", "UPDATE_IN_PROGRESS"),
            ),
        ]:
            stub.add_response(method, response, params)
        clock = FakeClock()
        with pytest.raises(ReleaseError, match="stack update failed") as raised:
            wait_from_e0(cfn, ecs=None, timeout=600, poll_interval=5, clock=clock)
        stub.assert_no_pending_responses()
    error = raised.value
    assert error.code == ExitCode.STACK_ROLLED_BACK == 9
    assert error.message == (
        "stack update failed and ended in UPDATE_ROLLBACK_COMPLETE; "
        "the previous image keeps serving"
    )
    assert len(error.details) == 1
    assert error.details[0].startswith("failed: 12:00:40 UPDATE_FAILED")
    assert error.details[0].endswith(
        "TaskDefinition: Resource handler returned message: "
        "Invalid request provided: Create TaskDefinition"
    )
    out = capsys.readouterr().out.splitlines()  # events shown as they happened, oldest first
    assert [line.split()[1] for line in out] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert clock.sleeps == [5]


def test_the_circuit_breaker_is_reported_with_nested_events_and_exits_10(capsys):
    cfn, ecs = client("cloudformation"), client("ecs")
    breaker = "ECS deployment circuit breaker: tasks failed to start."
    with Stubber(cfn) as cfn_stub, Stubber(ecs) as ecs_stub:
        for method, response, params in [
            describe("UPDATE_IN_PROGRESS"),
            root_events(
                event("r2", 2, "ServiceStack", "UPDATE_IN_PROGRESS", physical=NESTED_ID),
                event("r1", 1, "predict-api", "UPDATE_IN_PROGRESS"),
                BASELINE,
            ),
            nested_events(
                event(
                    "n2",
                    5,
                    "Service",
                    "UPDATE_IN_PROGRESS",
                    kind="AWS::ECS::Service",
                    physical=SERVICE_ARN,
                    stack_id=NESTED_ID,
                ),
                event("n1", -900, "Service", "UPDATE_COMPLETE", stack_id=NESTED_ID),  # older
            ),
            describe("UPDATE_ROLLBACK_IN_PROGRESS"),
            root_events(
                event(
                    "r3",
                    300,
                    "ServiceStack",
                    "UPDATE_FAILED",
                    reason="Embedded stack was not successfully updated",
                ),
            ),
            nested_events(
                event(
                    "n3",
                    299,
                    "Service",
                    "UPDATE_FAILED",
                    kind="AWS::ECS::Service",
                    reason="Error occurred during operation 'ECS Deployment Circuit Breaker was "
                    "triggered'.",
                    stack_id=NESTED_ID,
                ),
            ),
            describe("UPDATE_ROLLBACK_COMPLETE"),
            root_events(event("r4", 400, "predict-api", "UPDATE_ROLLBACK_COMPLETE")),
            nested_events(),
        ]:
            cfn_stub.add_response(method, response, params)
        service_params = {"cluster": "predict-api", "services": ["predict-api"]}
        for response in [
            services(
                deployment("PRIMARY", 7, "IN_PROGRESS", 0, 2, failed=2),
                deployment("ACTIVE", 6, "COMPLETED", 2, 0),
                events=[("s1", "(service predict-api) has started 2 tasks")],
            ),
            services(
                deployment("PRIMARY", 6, "IN_PROGRESS", 2, 0),
                deployment("ACTIVE", 7, "FAILED", 0, 0, failed=4, reason=breaker),
                events=[
                    ("s2", "(service predict-api) rolling back to deployment ecs-svc/6"),
                    ("s1", "(service predict-api) has started 2 tasks"),
                ],
            ),
            services(deployment("PRIMARY", 6, "COMPLETED", 2, 0)),
        ]:
            ecs_stub.add_response("describe_services", response, service_params)
        with pytest.raises(ReleaseError, match="ECS deployment failed") as raised:
            wait_from_e0(cfn, ecs=ecs, timeout=600, poll_interval=5, clock=FakeClock())
        cfn_stub.assert_no_pending_responses()
        ecs_stub.assert_no_pending_responses()
    error = raised.value
    assert error.code == ExitCode.CIRCUIT_BREAKER == 10
    assert error.message == (
        f"ECS deployment failed ({breaker}); stack ended in UPDATE_ROLLBACK_COMPLETE"
    )
    assert error.details[-1] == f"ecs rollout: {breaker}"
    assert any("ServiceStack/Service: Error occurred" in line for line in error.details)
    out = capsys.readouterr().out
    assert "ServiceStack/Service" in out  # nested stack events are followed and labelled
    assert "12:00:05 UPDATE_IN_PROGRESS" in out
    assert "ecs PRIMARY predict-api:7 IN_PROGRESS: running 0 pending 2 desired 2 failed 2" in out
    assert "ecs ACTIVE predict-api:7 FAILED: running 0 pending 0 desired 2 failed 4" in out
    assert "ecs event: (service predict-api) rolling back to deployment ecs-svc/6" in out
    assert "has started 2 tasks" not in out  # service history from before the release
    assert "-900" not in out and "11:45:00" not in out  # nested events older than the release


def test_a_stuck_update_times_out_with_exit_11():
    cfn = client("cloudformation")
    clock = FakeClock()
    with Stubber(cfn) as stub:
        stub.add_response(*describe("UPDATE_IN_PROGRESS"))
        stub.add_response(*root_events(event("e1", 1, "predict-api", "UPDATE_IN_PROGRESS")))
        for _ in range(3):
            stub.add_response(*describe("UPDATE_IN_PROGRESS"))
            stub.add_response(*root_events(event("e1", 1, "predict-api", "UPDATE_IN_PROGRESS")))
        with pytest.raises(ReleaseError, match="--timeout 30 s reached") as raised:
            wait_from_e0(cfn, ecs=None, timeout=30, poll_interval=10, clock=clock)
        stub.assert_no_pending_responses()
    assert raised.value.code == ExitCode.TIMEOUT == 11
    assert raised.value.message == (
        "--timeout 30 s reached: stack still UPDATE_IN_PROGRESS; CloudFormation carries on; keep "
        "watching with `aws cloudformation describe-stack-events --stack-name predict-api`"
    )
    assert clock.sleeps == [10, 10, 10]


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (
            "UPDATE_IN_PROGRESS",
            ExitCode.STACK_BUSY,
            "stack 'predict-api' is busy (UPDATE_IN_PROGRESS); wait for that operation to finish,"
            " then retry",
        ),
        (
            "UPDATE_ROLLBACK_IN_PROGRESS",
            ExitCode.STACK_BUSY,
            "stack 'predict-api' is busy (UPDATE_ROLLBACK_IN_PROGRESS); wait for that operation to"
            " finish, then retry",
        ),
        (
            "UPDATE_ROLLBACK_FAILED",
            ExitCode.STACK_NOT_READY,
            # The nested stack's failed resource, in the form --resources-to-skip takes.
            "continue-update-rollback --stack-name predict-api --resources-to-skip "
            "ServiceStack.LoadBalancer`",
        ),
        (
            "ROLLBACK_COMPLETE",
            ExitCode.STACK_NOT_READY,
            "`scripts/release.sh infra` deletes it and creates it again",
        ),
    ],
)
def test_a_busy_or_broken_stack_is_refused_in_one_line(status, code, message, capsys):
    cfn, sts = client("cloudformation"), client("sts")
    with Stubber(cfn) as cfn_stub, Stubber(sts) as sts_stub:
        sts_stub.add_response(
            "get_caller_identity",
            {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:role/deploy"},
        )
        cfn_stub.add_response("describe_stacks", stack_status(status), {"StackName": "predict-api"})
        if status == "UPDATE_ROLLBACK_FAILED":  # which resources failed, nested ones too
            nested_id = ROOT_ID.replace("predict-api", "predict-api-ServiceStack-X")
            failed = {"ResourceStatus": "UPDATE_FAILED", "Timestamp": T0}
            cfn_stub.add_response(
                "describe_stack_resources",
                {
                    "StackResources": [
                        {
                            **failed,
                            "LogicalResourceId": "ServiceStack",
                            "PhysicalResourceId": nested_id,
                            "ResourceType": "AWS::CloudFormation::Stack",
                        },
                        {
                            "ResourceStatus": "UPDATE_COMPLETE",
                            "Timestamp": T0,
                            "LogicalResourceId": "Net",
                            "ResourceType": "AWS::CloudFormation::Stack",
                        },
                    ]
                },
                {"StackName": ROOT_ID},
            )
            cfn_stub.add_response(
                "describe_stack_resources",
                {
                    "StackResources": [
                        {
                            **failed,
                            "LogicalResourceId": "LoadBalancer",
                            "PhysicalResourceId": "arn:lb",
                            "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                        },
                    ]
                },
                {"StackName": nested_id},
            )
        session = FakeSession(cloudformation=cfn, sts=sts)
        code_seen = cli.main(["--no-build", "--tag", NEW, "--region", REGION], session=session)
    assert code_seen == code
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("release: error: stack 'predict-api' is") and message in line


def test_another_update_starting_before_ours_is_reported_as_busy():
    cfn = client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_client_error(
            "execute_change_set",
            service_error_code="ValidationError",
            service_message=f"Stack:{ROOT_ID} is in UPDATE_IN_PROGRESS state and can not be "
            "updated.",
        )
        with pytest.raises(ReleaseError, match="is busy") as raised:
            stack.execute_change_set(cfn, "arn:cs", "predict-api", "token")
    assert raised.value.code == ExitCode.STACK_BUSY
    assert raised.value.message.startswith("stack 'predict-api' is busy: Stack:")


def test_a_failed_change_set_exits_8_and_an_empty_one_is_no_change():
    cfn = client("cloudformation")
    found = stack_status("UPDATE_COMPLETE")["Stacks"][0]
    failed = {
        "ChangeSetName": "release-x",
        "Status": "FAILED",
        "StatusReason": "Parameter 'ImageTag' must match pattern ^([0-9a-f]{7,40})?$",
        "ExecutionStatus": "UNAVAILABLE",
    }
    empty = {**failed, "StatusReason": "The submitted information didn't contain changes."}
    with Stubber(cfn) as stub:
        for reply in (failed, empty):
            stub.add_response("create_change_set", {"Id": "arn:cs", "StackId": ROOT_ID}, None)
            stub.add_response("describe_change_set", reply, {"ChangeSetName": "arn:cs"})
            stub.add_response("delete_change_set", {}, {"ChangeSetName": "arn:cs"})
        deadline = Deadline(60, FakeClock())
        with pytest.raises(ReleaseError, match="failed") as raised:
            stack.create_change_set(cfn, found, NEW, "release-x", deadline, Reporter())
        assert stack.create_change_set(cfn, found, NEW, "release-x", deadline, Reporter()) is None
        stub.assert_no_pending_responses()
    assert raised.value.code == ExitCode.CHANGE_SET_FAILED  # and the failed change set is gone
    assert raised.value.message == (
        "change set release-x failed: Parameter 'ImageTag' must match pattern ^([0-9a-f]{7,40})?$"
    )


class FakeSession:
    """What cli.main needs from a boto3 Session: clients (here: stubbed ones)."""

    def __init__(self, **clients) -> None:
        self.clients = clients

    def client(self, name: str, region_name: str | None = None):
        return self.clients.get(name) or client(name)


# The registry's scanning configuration on an account that never turned on Inspector.
BASIC_SCANNING = (
    "get_registry_scanning_configuration",
    {"scanningConfiguration": {"scanType": "BASIC"}},
)


def scan_findings(counts: dict[str, int], status: str = "COMPLETE", findings=()) -> dict:
    """describe_image_scan_findings as basic scanning answers it."""
    return {
        "repositoryName": "predict-api",
        "imageId": {"imageTag": NEW},
        "imageScanStatus": {"status": status, "description": status.lower()},
        "imageScanFindings": {
            "findingSeverityCounts": counts,
            "findings": [{"name": name, "severity": sev} for name, sev in findings],
        },
    }


def stub_a_release_up_to_execute(stubs: list[Stubber]) -> None:
    """The canned answers of `deploy --tag NEW` from preflight to an executed change set."""
    cfn_stub, ecr_stub, ecs_stub, sts_stub = stubs
    change_set = {"ChangeSetName": "release-b", "Status": "CREATE_COMPLETE", "Changes": []}
    change_set["Changes"] = [
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "ServiceStack",
                "ResourceType": "AWS::CloudFormation::Stack",
            },
        }
    ]
    sts_stub.add_response("get_caller_identity", {"Account": "1", "Arn": "arn:aws:iam::1:role/d"})
    cfn_stub.add_response("describe_stacks", stack_status("UPDATE_COMPLETE"), None)
    ecr_stub.add_response(
        "describe_images",
        {"imageDetails": [{"imageTags": [NEW]}]},
        {"repositoryName": "predict-api", "imageIds": [{"imageTag": NEW}]},
    )
    ecr_stub.add_response(*BASIC_SCANNING)
    ecr_stub.add_response("describe_image_scan_findings", scan_findings({"HIGH": 1}), None)
    cfn_stub.add_response("create_change_set", {"Id": "arn:cs", "StackId": ROOT_ID}, ANY_PARAMS)
    cfn_stub.add_response("describe_change_set", change_set, {"ChangeSetName": "arn:cs"})
    cfn_stub.add_response("describe_change_set", change_set, {"ChangeSetName": "arn:cs"})
    cfn_stub.add_response("describe_stack_events", {"StackEvents": [BASELINE]}, None)
    ecs_stub.add_response(
        "describe_services", services(deployment("PRIMARY", 6, "COMPLETED", 2, 0))
    )
    cfn_stub.add_response(
        "execute_change_set", {}, {"ChangeSetName": "arn:cs", "ClientRequestToken": ANY}
    )


def test_the_command_line_exits_9_after_a_rollback_and_prints_why(monkeypatch, capsys):
    """The whole deploy command, every AWS answer canned: the exit code and stderr a user sees."""
    monkeypatch.setenv("RELEASE_POLL_SECONDS", "0")
    cfn, ecr, ecs, sts = (client(n) for n in ("cloudformation", "ecr", "ecs", "sts"))
    reason = "Resource handler returned message: 'CannotPullContainerError'"
    stubs = [Stubber(c) for c in (cfn, ecr, ecs, sts)]
    cfn_stub, _, ecs_stub, _ = stubs
    stub_a_release_up_to_execute(stubs)
    cfn_stub.add_response(*describe("UPDATE_ROLLBACK_COMPLETE"))
    cfn_stub.add_response(
        *root_events(
            event("e3", 90, "predict-api", "UPDATE_ROLLBACK_COMPLETE"),
            event("e2", 60, "ServiceStack", "UPDATE_FAILED", reason=reason),
            event("e1", 1, "predict-api", "UPDATE_IN_PROGRESS"),
            BASELINE,
        )
    )
    ecs_stub.add_response(
        "describe_services", services(deployment("PRIMARY", 6, "COMPLETED", 2, 0))
    )
    for stub in stubs:
        stub.activate()
    session = FakeSession(cloudformation=cfn, ecr=ecr, ecs=ecs, sts=sts)

    code = cli.main(["--no-build", "--tag", NEW, "--region", REGION], session=session)

    for stub in stubs:
        stub.assert_no_pending_responses()
        stub.deactivate()
    assert code == 9
    captured = capsys.readouterr()
    assert [" ".join(line.split()) for line in captured.err.splitlines()] == [
        f"failed: 12:01:00 UPDATE_FAILED AWS::CloudFormation::Stack ServiceStack: {reason}",
        "release: error: stack update failed and ended in UPDATE_ROLLBACK_COMPLETE; "
        "the previous image keeps serving",
    ]
    assert "Traceback" not in captured.out + captured.err
    assert "Modify AWS::CloudFormation::Stack ServiceStack" in captured.out


def test_a_rollback_stopped_by_deletion_protection_names_the_resources_to_skip(monkeypatch, capsys):
    """A first service create fails and its rollback cannot delete the load balancer:
    "Load balancer '...' cannot be deleted because deletion protection is enabled (Error Code:
    OperationNotPermitted)" (aws-cloudformation/rain#187; AWS ELB API reference,
    DeleteLoadBalancer). The stack ends UPDATE_ROLLBACK_FAILED; the one way on is
    continue-update-rollback skipping that nested resource, so the advice must name it."""
    monkeypatch.setenv("RELEASE_POLL_SECONDS", "0")
    cfn, ecr, ecs, sts = (client(n) for n in ("cloudformation", "ecr", "ecs", "sts"))
    protected = (
        "Load balancer 'arn:lb' cannot be deleted because deletion protection is enabled "
        "(Service: AmazonElasticLoadBalancing; Status Code: 400; Error Code: OperationNotPermitted)"
    )
    stubs = [Stubber(c) for c in (cfn, ecr, ecs, sts)]
    cfn_stub, _, ecs_stub, _ = stubs
    stub_a_release_up_to_execute(stubs)
    cfn_stub.add_response(*describe("UPDATE_ROLLBACK_FAILED"))
    cfn_stub.add_response(
        *root_events(
            event("e3", 90, "predict-api", "UPDATE_ROLLBACK_FAILED"),
            event("e2", 80, "ServiceStack", "UPDATE_FAILED", reason=protected),
            event("e1", 1, "predict-api", "UPDATE_IN_PROGRESS"),
            BASELINE,
        )
    )
    ecs_stub.add_response(
        "describe_services", services(deployment("PRIMARY", 6, "COMPLETED", 2, 0))
    )
    cfn_stub.add_response(*describe("UPDATE_ROLLBACK_FAILED"))
    failed = {"ResourceStatus": "UPDATE_FAILED", "Timestamp": T0}
    cfn_stub.add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                {
                    **failed,
                    "LogicalResourceId": "ServiceStack",
                    "PhysicalResourceId": NESTED_ID,
                    "ResourceType": "AWS::CloudFormation::Stack",
                },
            ]
        },
        {"StackName": ROOT_ID},
    )
    cfn_stub.add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                {
                    **failed,
                    "LogicalResourceId": "LoadBalancer",
                    "PhysicalResourceId": "arn:lb",
                    "ResourceType": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                },
                {
                    "ResourceStatus": "DELETE_COMPLETE",
                    "Timestamp": T0,
                    "LogicalResourceId": "Service",
                    "ResourceType": "AWS::ECS::Service",
                },
            ]
        },
        {"StackName": NESTED_ID},
    )
    for stub in stubs:
        stub.activate()
    session = FakeSession(cloudformation=cfn, ecr=ecr, ecs=ecs, sts=sts)

    code = cli.main(["--no-build", "--tag", NEW, "--region", REGION], session=session)

    for stub in stubs:
        stub.deactivate()
    error = capsys.readouterr().err.splitlines()[-1]
    assert code == ExitCode.STACK_ROLLED_BACK, error
    assert "ended in UPDATE_ROLLBACK_FAILED" in error
    assert "--resources-to-skip ServiceStack.LoadBalancer`" in error


ANY_PARAMS = {
    "StackName": "predict-api",
    "ChangeSetName": ANY,
    "ChangeSetType": "UPDATE",
    "UsePreviousTemplate": True,
    "Parameters": [
        {"ParameterKey": "ImageTag", "ParameterValue": NEW},
        {"ParameterKey": "ArtifactsBucketName", "UsePreviousValue": True},
    ],
    "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    "IncludeNestedStacks": True,
    "Description": f"release {NEW} (scripts/release.sh)",
}


def release_failing_once_executed(monkeypatch, error: BaseException) -> tuple[int, bool]:
    """`release --no-build --tag NEW` on canned AWS answers, where every DescribeStacks after the
    change set was executed raises error (before the Stubber answers, as botocore would)."""
    monkeypatch.setenv("RELEASE_POLL_SECONDS", "0")
    cfn, ecr, ecs, sts = (client(n) for n in ("cloudformation", "ecr", "ecs", "sts"))
    stubs = [Stubber(c) for c in (cfn, ecr, ecs, sts)]
    stub_a_release_up_to_execute(stubs)
    executed = []
    cfn.meta.events.register(
        "after-call.cloudformation.ExecuteChangeSet", lambda **_: executed.append(True)
    )

    def fail_once_executed(**_):
        if executed:
            raise error

    cfn.meta.events.register(
        "provide-client-params.cloudformation.DescribeStacks", fail_once_executed
    )
    for stub in stubs:
        stub.activate()
    code = cli.main(
        ["--no-build", "--tag", NEW, "--region", REGION],
        session=FakeSession(cloudformation=cfn, ecr=ecr, ecs=ecs, sts=sts),
    )
    for stub in stubs:
        stub.deactivate()
    return code, bool(executed)


def test_losing_aws_after_the_change_set_was_executed_says_the_update_carries_on(
    monkeypatch, capsys
):
    """A connection failure once the update is under way is exit 11 ("carries on"), not exit 3
    ("prerequisite missing"): the release did start, and CloudFormation finishes it."""
    lost = ConnectTimeoutError(endpoint_url="https://cloudformation.us-east-1.amazonaws.com/")
    code, executed = release_failing_once_executed(monkeypatch, lost)
    assert executed
    assert code == ExitCode.TIMEOUT == 11
    assert capsys.readouterr().err.splitlines() == [
        "release: error: lost the connection to AWS while watching the release (Connect timeout"
        ' on endpoint URL: "https://cloudformation.us-east-1.amazonaws.com/"); the stack update'
        " carries on in CloudFormation; keep watching with `aws cloudformation"
        " describe-stack-events --stack-name predict-api`"
    ]


def alarmed_services(*deployments, events=(), alarms=("predict-api-5xx",)) -> dict:
    response = services(*deployments, events=events)
    response["services"][0]["deploymentConfiguration"] = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "alarms": {"alarmNames": list(alarms), "enable": True, "rollback": True},
    }
    return response


def test_an_alarm_rollback_is_told_apart_from_the_circuit_breaker_and_exits_15(capsys):
    """ECS reports an alarm-failed rollout in its service events ("(service S) (deployment
    ecs-svc/ID) deployment failed: alarm detected.") and marks the deployment FAILED."""
    cfn, ecs = client("cloudformation"), client("ecs")
    root = {"physical": ROOT_ID}
    with Stubber(cfn) as cfn_stub, Stubber(ecs) as ecs_stub:
        cfn_stub.add_response(*describe("UPDATE_ROLLBACK_IN_PROGRESS"))
        cfn_stub.add_response(
            *root_events(event("r1", 1, "predict-api", "UPDATE_IN_PROGRESS", **root), BASELINE)
        )
        cfn_stub.add_response(*describe("UPDATE_ROLLBACK_COMPLETE"))
        cfn_stub.add_response(
            *root_events(event("r2", 9, "predict-api", "UPDATE_ROLLBACK_COMPLETE", **root))
        )
        params = {"cluster": "predict-api", "services": ["predict-api"]}
        ecs_stub.add_response(
            "describe_services",
            alarmed_services(
                deployment("PRIMARY", 7, "IN_PROGRESS", 2, 0),
                deployment("ACTIVE", 6, "COMPLETED", 2, 0),
                events=[("s1", "(service predict-api) has started 2 tasks")],
            ),
            params,
        )
        ecs_stub.add_response(
            "describe_services",
            alarmed_services(
                deployment("PRIMARY", 6, "IN_PROGRESS", 2, 0),
                deployment("ACTIVE", 7, "FAILED", 0, 0, reason="ECS deployment ecs-svc/7 failed."),
                events=[
                    (
                        "s2",
                        "(service predict-api) (deployment ecs-svc/7) deployment failed: "
                        "alarm detected.",
                    )
                ],
            ),
            params,
        )
        with pytest.raises(ReleaseError, match="deployment alarm") as raised:
            wait_for_update(
                cfn,
                StackWatcher(cfn, ROOT_ID, "e0"),
                RolloutWatcher(ecs=ecs, cluster="predict-api", service="predict-api"),
                Reporter(),
                Deadline(600, FakeClock()),
                5,
                "predict-api",
            )
    assert raised.value.code == ExitCode.ALARM_ROLLBACK == 15
    assert raised.value.message == (
        "ECS deployment alarm went into ALARM (predict-api-5xx); ECS rolled the service back to "
        "the previous deployment; stack ended in UPDATE_ROLLBACK_COMPLETE"
    )
    assert "deployment failed: alarm detected." in capsys.readouterr().out


def test_rollout_read_errors_are_said_once_and_the_release_carries_on(capsys):
    ecs = client("ecs")
    watcher = RolloutWatcher(ecs=ecs, cluster="predict-api", service="predict-api")
    with Stubber(ecs) as stub:
        for code in ("AccessDeniedException", "AccessDeniedException", "ThrottlingException"):
            stub.add_client_error(
                "describe_services", service_error_code=code, service_message="nope"
            )
        stub.add_client_error("describe_services", service_error_code="ServiceNotFoundException")
        lines = [line for _ in range(4) for line in watcher.poll()]
    assert lines == [
        "cannot read ECS service predict-api (AccessDeniedException: nope); carrying on without "
        "the rollout view",
        "cannot read ECS service predict-api (ThrottlingException: nope); carrying on without "
        "the rollout view",
    ]


def test_a_change_set_not_ready_within_the_timeout_is_deleted_and_exits_11():
    cfn = client("cloudformation")
    found = stack_status("UPDATE_COMPLETE")["Stacks"][0]
    pending = {"ChangeSetName": "release-x", "Status": "CREATE_IN_PROGRESS"}
    clock, out = FakeClock(), io.StringIO()
    with Stubber(cfn) as stub:
        stub.add_response("create_change_set", {"Id": "arn:cs", "StackId": ROOT_ID}, None)
        for _ in range(4):  # at 0, 3, 6 and 7 s of a 7 s timeout
            stub.add_response("describe_change_set", pending, {"ChangeSetName": "arn:cs"})
        stub.add_response("delete_change_set", {}, {"ChangeSetName": "arn:cs"})
        with pytest.raises(ReleaseError, match="--timeout") as raised:
            stack.create_change_set(cfn, found, NEW, "release-x", Deadline(7, clock), Reporter(out))
        stub.assert_no_pending_responses()  # including the delete: nothing left behind
    assert raised.value.code == ExitCode.TIMEOUT
    assert raised.value.message == (
        "--timeout 7 s reached: change set release-x still CREATE_IN_PROGRESS; deleted it, "
        "nothing was changed; keep watching with `aws cloudformation describe-stacks "
        "--stack-name predict-api`"
    )
    assert clock.sleeps == [3, 3, 1]
    assert out.getvalue() == "    change set release-x: CREATE_IN_PROGRESS\n"


def test_the_scan_is_awaited_with_progress_and_critical_findings_exit_14():
    ecr = client("ecr")
    clock, out = FakeClock(), io.StringIO()
    with Stubber(ecr) as stub:
        stub.add_response(*BASIC_SCANNING)
        stub.add_response("describe_image_scan_findings", scan_findings({}, "IN_PROGRESS"))
        stub.add_response("describe_image_scan_findings", scan_findings({}, "IN_PROGRESS"))
        stub.add_response(
            "describe_image_scan_findings",
            scan_findings(
                {"CRITICAL": 2, "HIGH": 1},
                findings=[("CVE-2026-0001", "CRITICAL"), ("CVE-2026-0002", "HIGH")],
            ),
        )
        with pytest.raises(ReleaseError, match="CRITICAL finding") as raised:
            scan.check(ecr, "predict-api", NEW, Reporter(out), Deadline(600, clock), False)
    assert raised.value.code == ExitCode.CRITICAL_FINDINGS == 14
    assert raised.value.message == (
        f"image {NEW} has 2 CRITICAL finding(s) in its ECR scan; not deployed: update the "
        "affected packages and release again, or pass --allow-critical-findings"
    )
    assert raised.value.details == ["CRITICAL: CVE-2026-0001"]
    assert clock.sleeps == [10, 10]
    assert out.getvalue().splitlines()[1:] == [
        "    scan IN_PROGRESS; waiting (up to 600 s)",
        "    scan still IN_PROGRESS",
        "    scan COMPLETE: CRITICAL 2, HIGH 1",
    ]


def run_scan_check(answers, allow_critical=False, seconds=600.0):
    """scan.check against canned ECR answers: (operation, response) or (operation, error code)."""
    ecr, out, clock = client("ecr"), io.StringIO(), FakeClock()
    with Stubber(ecr) as stub:
        for operation, answer in [BASIC_SCANNING, *answers]:
            if isinstance(answer, str):
                stub.add_client_error(operation, service_error_code=answer, service_message="m")
            else:
                stub.add_response(operation, answer)
        scan.check(ecr, "predict-api", NEW, Reporter(out), Deadline(seconds, clock), allow_critical)
    return out.getvalue()


NO_SCAN = ("describe_image_scan_findings", "ScanNotFoundException")


def scans_on_push(enabled: bool):
    repository = {
        "repositoryName": "predict-api",
        "imageScanningConfiguration": {"scanOnPush": enabled},
    }
    return ("describe_repositories", {"repositories": [repository]})


def test_a_failed_scan_is_refused_unless_overridden():
    failed = ("describe_image_scan_findings", scan_findings({}, "FAILED"))
    with pytest.raises(ReleaseError, match="ended FAILED") as raised:
        run_scan_check([failed])
    assert raised.value.code == ExitCode.PREREQUISITE
    assert raised.value.message.startswith(f"the ECR scan of {NEW} ended FAILED")
    assert "findings not checked" in run_scan_check([failed], allow_critical=True)


def test_a_scan_not_started_yet_is_awaited_when_the_repository_scans_on_push():
    """Right after a push ECR answers ScanNotFoundException until the scan on push starts: that
    is not "scanning off", so the gate waits for the scan instead of deploying unchecked."""
    with pytest.raises(ReleaseError, match="CRITICAL") as raised:
        run_scan_check(
            [
                NO_SCAN,
                scans_on_push(True),
                ("describe_image_scan_findings", scan_findings({}, "IN_PROGRESS")),
                ("describe_image_scan_findings", scan_findings({"CRITICAL": 1})),
            ]
        )
    assert raised.value.code == ExitCode.CRITICAL_FINDINGS


def test_no_scan_a_minute_after_a_scan_on_push_is_refused():
    answers = [NO_SCAN, scans_on_push(True)] * 7
    with pytest.raises(ReleaseError, match="no ECR scan of") as raised:
        run_scan_check(answers)
    assert raised.value.code == ExitCode.PREREQUISITE
    assert raised.value.message.startswith(
        f"no ECR scan of {NEW} after 60 s although predict-api scans on push: nothing was deployed"
    )


def test_no_scan_in_a_repository_that_does_not_scan_is_a_note():
    out = run_scan_check([NO_SCAN, scans_on_push(False)])
    assert f"no scan result for {NEW} (ScanNotFoundException: m); findings not checked" in out


def test_a_scan_still_running_at_the_timeout_exits_11():
    running = ("describe_image_scan_findings", scan_findings({}, "IN_PROGRESS"))
    with pytest.raises(ReleaseError, match="still IN_PROGRESS") as raised:
        run_scan_check([running] * 3, seconds=15)
    assert raised.value.code == ExitCode.TIMEOUT
    assert raised.value.message.startswith(
        f"--timeout 15 s reached: the ECR scan of {NEW} is still IN_PROGRESS; nothing was deployed"
    )


def test_ctrl_c_after_the_update_started_says_it_carries_on(monkeypatch, capsys):
    code, executed = release_failing_once_executed(monkeypatch, KeyboardInterrupt())
    assert executed
    assert code == ExitCode.INTERRUPTED == 130
    assert capsys.readouterr().err.splitlines() == [
        "release: error: interrupted after the stack update started: it carries on in "
        "CloudFormation; keep watching with `aws cloudformation describe-stack-events "
        "--stack-name predict-api`"
    ]


def test_a_scan_that_cannot_be_read_is_refused_not_skipped():
    with pytest.raises(ReleaseError, match="cannot read the ECR scan") as raised:
        run_scan_check([("describe_image_scan_findings", "AccessDeniedException")])
    assert raised.value.code == ExitCode.PREREQUISITE
    assert raised.value.message == (
        f"cannot read the ECR scan of {NEW} (AccessDeniedException: m): allow "
        "ecr:DescribeImageScanFindings on the repository, or pass --allow-critical-findings to "
        "deploy it unchecked"
    )


# The first release: the root stack has ImageTag "" and none of the service's outputs yet;
# the service appears during the update, and the deploy role must not attempt it.
FIRST_TAG = "c" * 40
ACCOUNT = "123456789012"
ROLE_NAME = "predict-api-GitHubOidc-1AB-DeployRole-XYZ"
DEPLOY_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/predict-api/github/{ROLE_NAME}"
DEPLOY_ROLE_CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/predict-api-release-42"
ADMIN_CALLER = f"arn:aws:iam::{ACCOUNT}:user/admin"


def root_stack(status: str, image_tag: str, service_url: str | None = None) -> dict:
    """The root as describe_stacks shows it; the service's outputs only once it exists."""
    deploy_role = {"DeployRoleArn": DEPLOY_ROLE_ARN, "ArtifactsBucketName": "artifacts"}
    return stack_status(status, image_tag, service_url, extra_outputs=deploy_role)


def steady(response: dict) -> dict:
    """What the services_stable waiter reads: one deployment, running == desired."""
    response["services"][0] |= {"runningCount": 2, "desiredCount": 2}
    return response


def test_first_release_follows_the_new_service_and_verifies_with_fresh_outputs(
    health_server, capsys
):
    cfn, ecr, ecs, sts = (client(n) for n in ("cloudformation", "ecr", "ecs", "sts"))
    stubs = [Stubber(c) for c in (cfn, ecr, ecs, sts)]
    cfn_stub, ecr_stub, ecs_stub, sts_stub = stubs
    change_set = {
        "ChangeSetName": "release-c",
        "Status": "CREATE_COMPLETE",
        "Changes": [
            {
                "Type": "Resource",
                "ResourceChange": {
                    "Action": "Add",
                    "LogicalResourceId": "ServiceStack",
                    "ResourceType": "AWS::CloudFormation::Stack",
                },
            }
        ],
    }
    service = {"kind": "AWS::ECS::Service", "stack_id": NESTED_ID}
    sts_stub.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": ADMIN_CALLER})
    cfn_stub.add_response("describe_stacks", root_stack("UPDATE_COMPLETE", ""), None)
    ecr_stub.add_response("describe_images", {"imageDetails": [{"imageTags": [FIRST_TAG]}]}, None)
    ecr_stub.add_response(*BASIC_SCANNING)
    ecr_stub.add_response("describe_image_scan_findings", scan_findings({}), None)
    cfn_stub.add_response("create_change_set", {"Id": "arn:cs", "StackId": ROOT_ID}, None)
    cfn_stub.add_response("describe_change_set", change_set, {"ChangeSetName": "arn:cs"})
    cfn_stub.add_response("describe_change_set", change_set, {"ChangeSetName": "arn:cs"})
    cfn_stub.add_response("describe_stack_events", {"StackEvents": [BASELINE]}, None)
    cfn_stub.add_response(
        "execute_change_set", {}, {"ChangeSetName": "arn:cs", "ClientRequestToken": ANY}
    )
    # First poll: the service stack and the service are being created.
    cfn_stub.add_response("describe_stacks", root_stack("UPDATE_IN_PROGRESS", FIRST_TAG), None)
    cfn_stub.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event("r2", 2, "ServiceStack", "CREATE_IN_PROGRESS", physical=NESTED_ID),
                event("r1", 1, "predict-api", "UPDATE_IN_PROGRESS", physical=ROOT_ID),
                BASELINE,
            ]
        },
        {"StackName": ROOT_ID},
    )
    cfn_stub.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event("n1", 30, "Service", "CREATE_IN_PROGRESS", physical=SERVICE_ARN, **service)
            ]
        },
        {"StackName": NESTED_ID},
    )
    by_name = {"cluster": "predict-api", "services": ["predict-api"]}
    ecs_stub.add_response(
        "describe_services",
        services(deployment("PRIMARY", 1, "IN_PROGRESS", 0, 2)),
        by_name,
    )
    # Second poll: done.
    cfn_stub.add_response("describe_stacks", root_stack("UPDATE_COMPLETE", FIRST_TAG), None)
    cfn_stub.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event("r4", 200, "predict-api", "UPDATE_COMPLETE", physical=ROOT_ID),
                event("r3", 190, "ServiceStack", "CREATE_COMPLETE", physical=NESTED_ID),
            ]
        },
        {"StackName": ROOT_ID},
    )
    cfn_stub.add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                event("n2", 180, "Service", "CREATE_COMPLETE", physical=SERVICE_ARN, **service)
            ]
        },
        {"StackName": NESTED_ID},
    )
    completed = deployment("PRIMARY", 1, "COMPLETED", 2, 0)
    ecs_stub.add_response(
        "describe_services",
        services(completed, events=[("s1", "(service predict-api) has reached a steady state.")]),
        by_name,
    )
    # Verification: the root described again now has the service's outputs.
    cfn_stub.add_response(
        "describe_stacks",
        root_stack("UPDATE_COMPLETE", FIRST_TAG, service_url=health_server.url),
        {"StackName": ROOT_ID},
    )
    ecs_stub.add_response("describe_services", steady(services(completed)), by_name)  # waiter
    ecs_stub.add_response("describe_services", steady(services(completed)), by_name)
    ecs_stub.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "taskDefinitionArn": f"{TASK_DEFINITION_ARN}:1",
                "containerDefinitions": [{"name": "app", "image": f"{REPO}:{FIRST_TAG}"}],
            }
        },
        {"taskDefinition": f"{TASK_DEFINITION_ARN}:1"},
    )
    options = Options(
        stack_name="predict-api",
        tag=FIRST_TAG,
        poll_interval=0,
        health_delay=0,
        clock=Clock(sleep=lambda _s: None),
    )
    for stub in stubs:
        stub.activate()

    code = run(Clients(cloudformation=cfn, ecr=ecr, ecs=ecs, sts=sts), options, Reporter())

    for stub in stubs:
        stub.assert_no_pending_responses()
        stub.deactivate()
    assert code == ExitCode.OK
    out = capsys.readouterr().out
    assert "ImageTag now (none: first release)" in out
    assert f'parameter ImageTag: "" -> {FIRST_TAG}' in out
    assert "Add AWS::CloudFormation::Stack ServiceStack" in out
    assert "ServiceStack/Service" in out  # the nested stack's events are followed
    # The rollout of a service that did not exist when the release started:
    assert "ecs PRIMARY predict-api:1 IN_PROGRESS: running 0 pending 2 desired 2 failed 0" in out
    assert "ecs PRIMARY predict-api:1 COMPLETED: running 2 pending 0 desired 2 failed 0" in out
    assert "ecs event: (service predict-api) has reached a steady state." in out
    assert f"runs {REPO}:{FIRST_TAG}: rollout COMPLETED, 2/2 tasks running" in out
    # The health check went to the ServiceUrl that only the re-described stack has.
    assert health_server.hits == ["/health"]
    assert f"GET {health_server.url}/health: 200 ok" in out


def preflight_as(caller: str, image_tag: str, capsys) -> tuple[int, list[str]]:
    """The whole command line; a refused caller stops at the preflight, before ECR."""
    cfn, sts = client("cloudformation"), client("sts")
    with Stubber(cfn) as cfn_stub, Stubber(sts) as sts_stub:
        sts_stub.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": caller})
        cfn_stub.add_response(
            "describe_stacks",
            root_stack("UPDATE_COMPLETE", image_tag),
            {"StackName": "predict-api"},
        )
        code = cli.main(
            ["--no-build", "--tag", FIRST_TAG, "--region", REGION],
            session=FakeSession(cloudformation=cfn, sts=sts),
        )
        cfn_stub.assert_no_pending_responses()
    return code, capsys.readouterr().err.splitlines()


def test_the_deploy_role_cannot_make_the_first_release_and_is_told_so_at_once(capsys):
    code, err = preflight_as(DEPLOY_ROLE_CALLER, "", capsys)
    assert code == ExitCode.STACK_NOT_READY == 4
    assert err == [
        "release: error: stack 'predict-api' has no image yet: the first release creates the "
        "service and needs administrator credentials, not the deploy role (README "
        '"Deploy to your account", step 2)'
    ]


@pytest.mark.parametrize(
    ("caller", "image_tag"),
    [(ADMIN_CALLER, ""), (DEPLOY_ROLE_CALLER, "a" * 40)],
    ids=["admin-first-release", "deploy-role-later-release"],
)
def test_other_callers_and_later_releases_pass_preflight(caller, image_tag):
    cfn, sts = client("cloudformation"), client("sts")
    with Stubber(cfn) as cfn_stub, Stubber(sts) as sts_stub:
        sts_stub.add_response("get_caller_identity", {"Account": ACCOUNT, "Arn": caller})
        cfn_stub.add_response("describe_stacks", root_stack("UPDATE_COMPLETE", image_tag), None)
        clients = Clients(cloudformation=cfn, ecr=None, ecs=None, sts=sts)
        found = preflight(clients, "predict-api", Reporter())
    assert found["StackName"] == "predict-api"


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (DEPLOY_ROLE_CALLER, True),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/other-role/s", False),
        (f"arn:aws:sts::210987654321:assumed-role/{ROLE_NAME}/s", False),  # another account
        (f"arn:aws:iam::{ACCOUNT}:user/{ROLE_NAME}", False),
        ("", False),
    ],
)
def test_is_role_matches_an_assumed_role_session_to_its_role(caller, expected):
    assert is_role(caller, DEPLOY_ROLE_ARN) is expected
