"""The first release: the root stack has ImageTag "" and none of the service's outputs yet. The ECS
service appears during the update (found in the nested stack's events, the ARN as physical id),
its rollout is shown, and the verification uses the outputs described again after the update.
A CI release (the deploy role) must not attempt it: it cannot create the service stack."""

from __future__ import annotations

import pytest
from botocore.stub import ANY, Stubber
from release_tool import cli
from release_tool.deadline import Clock
from release_tool.errors import ExitCode
from release_tool.output import Reporter
from release_tool.release import Clients, Options, is_role, preflight, run

from tests.release.test_failure_paths import (
    BASELINE,
    NESTED_ID,
    REGION,
    REPO,
    ROOT_ID,
    SERVICE_ARN,
    TASK_DEFINITION_ARN,
    FakeSession,
    client,
    deployment,
    event,
    scan_findings,
    services,
    stack_status,
)

NEW = "c" * 40
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
    ecr_stub.add_response("describe_images", {"imageDetails": [{"imageTags": [NEW]}]}, None)
    ecr_stub.add_response("describe_image_scan_findings", scan_findings({}), None)
    cfn_stub.add_response("create_change_set", {"Id": "arn:cs", "StackId": ROOT_ID}, None)
    cfn_stub.add_response("describe_change_set", change_set, {"ChangeSetName": "arn:cs"})
    cfn_stub.add_response("describe_change_set", change_set, {"ChangeSetName": "arn:cs"})
    cfn_stub.add_response("describe_stack_events", {"StackEvents": [BASELINE]}, None)
    cfn_stub.add_response(
        "execute_change_set", {}, {"ChangeSetName": "arn:cs", "ClientRequestToken": ANY}
    )
    # First poll: the service stack and the service are being created.
    cfn_stub.add_response("describe_stacks", root_stack("UPDATE_IN_PROGRESS", NEW), None)
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
    cfn_stub.add_response("describe_stacks", root_stack("UPDATE_COMPLETE", NEW), None)
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
        root_stack("UPDATE_COMPLETE", NEW, service_url=health_server.url),
        {"StackName": ROOT_ID},
    )
    ecs_stub.add_response("describe_services", steady(services(completed)), by_name)  # waiter
    ecs_stub.add_response("describe_services", steady(services(completed)), by_name)
    ecs_stub.add_response(
        "describe_task_definition",
        {
            "taskDefinition": {
                "taskDefinitionArn": f"{TASK_DEFINITION_ARN}:1",
                "containerDefinitions": [{"name": "app", "image": f"{REPO}:{NEW}"}],
            }
        },
        {"taskDefinition": f"{TASK_DEFINITION_ARN}:1"},
    )
    options = Options(
        stack_name="predict-api",
        tag=NEW,
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
    assert f'parameter ImageTag: "" -> {NEW}' in out
    assert "Add AWS::CloudFormation::Stack ServiceStack" in out
    assert "ServiceStack/Service" in out  # the nested stack's events are followed
    # The rollout of a service that did not exist when the release started:
    assert "ecs PRIMARY predict-api:1 IN_PROGRESS: running 0 pending 2 desired 2 failed 0" in out
    assert "ecs PRIMARY predict-api:1 COMPLETED: running 2 pending 0 desired 2 failed 0" in out
    assert "ecs event: (service predict-api) has reached a steady state." in out
    assert f"runs {REPO}:{NEW}: rollout COMPLETED, 2/2 tasks running" in out
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
            ["--no-build", "--tag", NEW, "--region", REGION],
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
