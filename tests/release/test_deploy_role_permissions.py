"""The deploy role (cloudformation/github-oidc.yaml) allows what a release needs, and nothing more.

What a release needs comes from two sources, neither listed by hand:
- the release tool's own calls: a release runs against moto (the happy path with a push, and a
  dry run), and its scan gate once more on a registry with enhanced scanning (Inspector stand-in),
  while a botocore hook records each request as the IAM action and resource it is authorised on
  (the container builder's `docker push` is ECR's documented push list);
- what CloudFormation's resource handlers call with the caller's credentials for every resource
  a release updates or replaces, and for its rollback: the permissions in the resource schemas
  cfn-lint ships, each needed on the resource types AWS's Service Authorization Reference
  (policy_sentry, offline) names for that action.
Each request is evaluated against the DeployRole policy rendered with cloud-radar."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import boto3
import cfnlint
import pytest
from policy_sentry.querying.actions import get_action_data
from policy_sentry.util.arns import does_arn_match
from release_tool import health, registry, scan
from release_tool.deadline import Clock, Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.release import Clients, Options, run

from tests.release.conftest import (
    ACCOUNT,
    REGION,
    REPOSITORY_ARN,
    CallRecorder,
    allows,
    delivery_params,
    deploy_role_policy,
    load,
    render,
    service_params,
)
from tests.release.inspector_stand_in import inspector_fixture  # noqa: F401
from tests.release.stand_in import (
    NEW_TAG,
    STACK,
    play_cloudformation_for_ecs,
    put_image,
    use_enhanced_scanning,
)

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
# The release reads the image's scan findings before it deploys (refusing CRITICAL ones), and the
# repository's scan-on-push setting when there is no scan yet.
RELEASE_READS = {"ecr:DescribeImageScanFindings", "ecr:DescribeRepositories"}
# CloudFormation reads packaged nested templates (S3 TemplateURLs) with the caller's credentials.
CLOUDFORMATION_READS_TEMPLATES = {"s3:GetObject"}


def no_resource_level_permissions(action: str) -> bool:
    service, name = action.split(":")
    rows = get_action_data(service, name)[service]
    return all(row["resource_arn_format"] == "*" for row in rows)


def iam_resources(action: str, params: dict, stack_arn: str) -> list[str]:
    """The resource ARN(s) IAM authorises `action` on (Service Authorization Reference)."""
    service, operation = action.split(":")
    if service == "cloudformation":
        # Change-set actions are authorised on the stack; a change set ARN alone means ours.
        name = params.get("StackName", stack_arn)
        return [name if name.startswith("arn:") else stack_arn]
    if no_resource_level_permissions(action):
        return ["*"]
    if service == "acm":
        return [params["CertificateArn"]]
    if service == "ecr":
        names = params.get("repositoryNames") or [params["repositoryName"]]
        return [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}" for name in names]
    if operation == "DescribeServices":
        cluster = params["cluster"]
        return [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{s}" for s in params["services"]]
    raise AssertionError(f"no resource mapping for {action}: add one so that it is checked")


def fake_builder(argv, **_kwargs):
    """Stands in for docker: `push` leaves the image in moto's ECR, as the real push would."""
    if argv[1] == "push":
        put_image(argv[2].rsplit(":", 1)[1])
    return registry.subprocess.CompletedProcess(argv, 0, stdout="")


@pytest.fixture
def recorded_release(stand_in_stack, health_server, inspector, monkeypatch) -> tuple[list, str]:
    """A dry run, then the real release with a push, both against moto, then the scan gate on a
    registry that switched to enhanced scanning (Inspector): their AWS calls."""
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
    use_enhanced_scanning()
    image = clients.ecr.describe_images(repositoryName=STACK, imageIds=[{"imageTag": NEW_TAG}])
    inspector.repository, inspector.tag = STACK, NEW_TAG
    inspector.digest = image["imageDetails"][0]["imageDigest"]
    inspector.coverage = [("ACTIVE", "SUCCESSFUL")]
    inspector2 = recorder.attach_client(session.client("inspector2"))
    deadline = Deadline(60, options["clock"])
    scan.check(clients.ecr, STACK, NEW_TAG, Reporter(), deadline, False, inspector=inspector2)
    # The health check on an https:// URL reads the stack's certificate (here: still pending).
    pending = session.client("acm").request_certificate(
        DomainName="api.example.com", ValidationMethod="DNS"
    )  # what the stack did: not recorded
    acm = recorder.attach_client(session.client("acm"))
    with pytest.raises(ReleaseError, match="PENDING_VALIDATION"):
        health.check(
            "https://api.example.com/health",
            deadline,
            Reporter(),
            certificate_arn=pending["CertificateArn"],
            acm=acm,
        )
    return recorder.calls, stand_in_stack["StackId"]


def needed(calls: list, stack_arn: str) -> set[tuple[str, str]]:
    pairs = {
        (action, resource)
        for action, params in calls
        if action not in NEEDS_NO_PERMISSION
        for resource in iam_resources(action, params, stack_arn)
    }
    return pairs | {(action, REPOSITORY_ARN) for action in DOCKER_PUSH_ACTIONS}


def refused(policy: dict, pairs: set[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(
        (action, resource) for action, resource in pairs if not allows(policy, action, resource)
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
        "ecr:GetRegistryScanningConfiguration",
        "inspector2:ListCoverage",
        "inspector2:ListFindings",
        "acm:DescribeCertificate",
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


def test_the_check_notices_that_enhanced_scanning_needs_inspector(recorded_release):
    calls, stack_arn = recorded_release
    policy = deploy_role_policy()
    scan_reads = "ReadTheScanTypeAndInspectorFindings"
    without = [s for s in policy["Statement"] if s.get("Sid") != scan_reads]
    missing = refused({**policy, "Statement": without}, needed(calls, stack_arn))
    assert missing == [
        ("ecr:GetRegistryScanningConfiguration", "*"),
        ("inspector2:ListCoverage", "*"),
        ("inspector2:ListFindings", "*"),
    ]


# --- What CloudFormation's handlers call with the caller's credentials ---

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
NESTED_STACK = "AWS::CloudFormation::Stack"
# Request context IAM evaluates with these handler calls: the task definition handler passes the
# roles to ECS tasks, and tags a task definition inside RegisterTaskDefinition.
HANDLER_CALL_CONTEXT = {
    ("AWS::ECS::TaskDefinition", "iam:PassRole"): {
        "iam:PassedToService": "ecs-tasks.amazonaws.com"
    },
    ("AWS::ECS::TaskDefinition", "ecs:TagResource"): {"ecs:CreateAction": "RegisterTaskDefinition"},
    ("AWS::ECS::Service", "iam:PassRole"): {"iam:PassedToService": "ecs.amazonaws.com"},
}
# IAM checks iam:PassRole on every request that hands a role to a service (IAM User Guide, "Grant a
# user permissions to pass a role to an AWS service"). The service's update handler lists no
# iam:PassRole (its create handler does), yet under CANARY, LINEAR and BLUE_GREEN its UpdateService
# carries the infrastructure role (botocore's ECS model: advancedConfiguration.roleArn and
# lifecycleHooks[].roleArn), which ECS assumes.
PASSES_ITS_ROLES = {("AWS::ECS::Service", "update"): ["iam:PassRole"]}
STRATEGIES = ["ROLLING", "CANARY", "LINEAR", "BLUE_GREEN"]
# Handler permissions only a property can trigger, which the type's schema does not even have:
# nested stacks carry no service role, stack policy or termination protection of their own.
TRIGGERED_ONLY_BY_ABSENT_PROPERTIES = {
    (NESTED_STACK, "iam:PassRole"): "RoleARN",
    (NESTED_STACK, "cloudformation:SetStackPolicy"): "StackPolicyBody",
    (NESTED_STACK, "cloudformation:UpdateTerminationProtection"): "EnableTerminationProtection",
}


def schema(resource_type: str) -> dict:
    providers = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    return json.loads((SCHEMAS / "resources" / f"{providers[resource_type]}.json").read_text())


def handler_permissions(resource_type: str, operation: str) -> list[str]:
    return schema(resource_type)["handlers"][operation]["permissions"]


def references(node) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt, ${X} in Fn::Sub)."""
    if isinstance(node, dict):
        found = set()
        for key, value in node.items():
            if key == "Ref":
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= references(value)
        return found
    if isinstance(node, list):
        return set().union(*map(references, node)) if node else set()
    return set()


def release_operations(strategy: str = "ROLLING") -> dict[str, set[str]]:
    """Logical id in service.yaml -> handler operations a release (and its rollback) runs on it.

    A release changes ImageTag only. A resource whose rendered properties change is replaced when
    a changed property is create-only in its schema (create the new one, delete the old one; a
    rollback deletes the new one), else updated; a resource that refers to a replaced one is
    updated (and updated back on a rollback)."""
    params = service_params(DeploymentStrategy=strategy)
    before = render("service.yaml", {**params, "ImageTag": "a" * 40})["Resources"]
    after = render("service.yaml", {**params, "ImageTag": "b" * 40})["Resources"]
    operations: dict[str, set[str]] = {}
    for name, resource in after.items():
        changed = {
            key
            for key in resource.get("Properties", {})
            if resource["Properties"][key] != before[name]["Properties"].get(key)
        }
        if changed:
            create_only = {
                p.rsplit("/", 1)[1]
                for p in schema(resource["Type"]).get("createOnlyProperties", [])
            }
            operations[name] = {"create", "delete"} if changed & create_only else {"update"}
    raw = load("service.yaml")["Resources"]
    replaced = {name for name, ops in operations.items() if "create" in ops}
    for name, resource in raw.items():
        if references(resource.get("Properties", {})) & replaced and name not in operations:
            operations[name] = {"update"}
    return operations


def handler_targets(stack: dict, name: str) -> list[str]:
    """Concrete ARNs of what the handler of `name` acts on, from the rendered service template."""
    resources = stack["Resources"]
    props = resources[name]["Properties"]
    ecs = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    kind = resources[name]["Type"]
    if kind == "AWS::ECS::Service":
        cluster = resources[props["Cluster"]]["Properties"]["ClusterName"]
        service = props["ServiceName"]
        return [
            f"{ecs}:service/{cluster}/{service}",
            f"{ecs}:service-deployment/{cluster}/{service}/Ab1Cd2Ef3Gh4",
            *passed_roles(props),
        ]
    if kind == "AWS::ECS::TaskDefinition":
        roles = [
            f"arn:aws:iam::{ACCOUNT}:role{resources[role]['Properties']['Path']}"
            f"{STACK}-{role}-1A2B3C4D5E6F"
            # cloud-radar renders !GetAtt Role.Arn as "Role.Arn"
            for role in (props[key].split(".")[0] for key in ("ExecutionRoleArn", "TaskRoleArn"))
        ]
        return [f"{ecs}:task-definition/{props['Family']}:7", *roles]
    raise AssertionError(f"no handler targets for {kind} {name}: add them so that it is checked")


def passed_roles(service: dict) -> list[str]:
    """ARNs of the roles the rendered service names for ECS to assume: the role behind each
    delivery stack output (cloud-radar renders it "Delivery.Outputs.NAME"), on its path."""
    named = [
        lb["AdvancedConfiguration"]["RoleArn"]
        for lb in service["LoadBalancers"]
        if "AdvancedConfiguration" in lb
    ] + [hook["RoleArn"] for hook in service["DeploymentConfiguration"].get("LifecycleHooks", [])]
    delivery = render("delivery.yaml", delivery_params())["Resources"]
    outputs = load("delivery.yaml")["Outputs"]
    roles = set()
    for output in named:
        stack, _, name = output.split(".")
        assert stack == "Delivery", output
        role = outputs[name]["Value"]["Fn::GetAtt"][0]
        path = delivery[role]["Properties"]["Path"]
        roles.add(f"arn:aws:iam::{ACCOUNT}:role{path}{STACK}-Service-1A2B-Delivery-{role}-5E6F")
    return sorted(roles)


def nested_stack_arns(strategy: str) -> list[str]:
    """The root's nested stacks, and the service stack's (the delivery stack, when there is one)."""
    root = load("root.yaml")["Resources"]
    names = [name for name, resource in root.items() if resource["Type"] == NESTED_STACK]
    if strategy != "ROLLING":
        names.append("Service-1A2B3C4D5E6F-Delivery")
    return [
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-{name}-1A2B3C4D5E6F/"
        "0f0e0d0c-0b0a-0908-0706-050403020100"
        for name in names
    ]


def needed_on(action: str, targets: list[str]) -> list[str]:
    """The targets IAM authorises `action` on (Service Authorization Reference), else ["*"]."""
    service, name = action.split(":")
    formats = [
        row["resource_arn_format"]
        for row in get_action_data(service, name)[service]
        if row["resource_arn_format"] != "*"
    ]
    if not formats:
        return ["*"]
    matching = [t for t in targets if any(does_arn_match(t, f) for f in formats)]
    assert matching, f"{action} is authorised on {formats}: none of {targets} is one"
    return matching


def handler_requests(strategy: str = "ROLLING") -> list[tuple[str, str, str, dict]]:
    """(resource type, action, resource ARN, request context) of every handler call of a release."""
    requests = []
    service = render("service.yaml", service_params(DeploymentStrategy=strategy))
    for name, operations in release_operations(strategy).items():
        kind = service["Resources"][name]["Type"]
        targets = handler_targets(service, name)
        for operation in sorted(operations):
            for action in handler_permissions(kind, operation):
                context = HANDLER_CALL_CONTEXT.get((kind, action), {})
                for arn in needed_on(action, targets):
                    requests.append((kind, action, arn, context))
            for action in PASSES_ITS_ROLES.get((kind, operation), []):
                # Only the roles the request carries (a ROLLING service names none).
                for arn in [target for target in targets if ":role/" in target]:
                    requests.append((kind, action, arn, HANDLER_CALL_CONTEXT[(kind, action)]))
    # CloudFormation starts an update of every nested stack when the root stack is updated.
    for action in handler_permissions(NESTED_STACK, "update"):
        if (NESTED_STACK, action) not in TRIGGERED_ONLY_BY_ABSENT_PROPERTIES:
            for arn in needed_on(action, nested_stack_arns(strategy)):
                requests.append((NESTED_STACK, action, arn, {}))
    return requests


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_release_replaces_the_task_definition_and_updates_the_service(strategy):
    # What the derivation finds; if a template change alters it, the requests below follow.
    assert release_operations(strategy) == {
        "TaskDefinition": {"create", "delete"},
        "Service": {"update"},
    }


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_deploy_role_allows_every_handler_call_of_a_release_and_its_rollback(strategy):
    policy = deploy_role_policy()
    refused_calls = [
        (kind, action, arn)
        for kind, action, arn, context in handler_requests(strategy)
        if not allows(policy, action, arn, context)
    ]
    assert refused_calls == []


@pytest.mark.parametrize("strategy", STRATEGIES[1:])
def test_a_release_that_moves_traffic_passes_the_infrastructure_role_to_ecs(strategy):
    passed = [
        (arn, context)
        for kind, action, arn, context in handler_requests(strategy)
        if (kind, action) == ("AWS::ECS::Service", "iam:PassRole")
    ]
    role = f"arn:aws:iam::{ACCOUNT}:role/{STACK}/delivery/{STACK}-Service-1A2B-Delivery-"
    assert passed == [
        (f"{role}InfrastructureRole-5E6F", {"iam:PassedToService": "ecs.amazonaws.com"})
    ]
    # The check can fail: without its statement the deploy role may not pass it.
    policy = deploy_role_policy()
    without = [s for s in policy["Statement"] if s.get("Sid") != "PassOnlyTheDeliveryRolesToEcs"]
    assert not allows({**policy, "Statement": without}, "iam:PassRole", *passed[0])
    # Nor to another service.
    assert not allows(
        policy, "iam:PassRole", passed[0][0], {"iam:PassedToService": "lambda.amazonaws.com"}
    )


def test_handler_permissions_left_out_need_a_property_the_schema_does_not_have():
    for (kind, action), prop in TRIGGERED_ONLY_BY_ABSENT_PROPERTIES.items():
        assert action in handler_permissions(kind, "update"), f"{action} is stale here"
        assert prop not in schema(kind)["properties"], f"{kind} now has {prop}: grant {action}"
    for resource in load("root.yaml")["Resources"].values():
        assert resource["Type"] == NESTED_STACK
        assert not set(resource["Properties"]) & set(TRIGGERED_ONLY_BY_ABSENT_PROPERTIES.values())


def test_the_handler_check_notices_a_permission_that_is_missing():
    policy = deploy_role_policy()
    statements = policy["Statement"]
    without = [s for s in statements if s.get("Sid") != "WatchAndStopThisServiceDeployments"]
    smaller = {**policy, "Statement": without}
    missing = {
        action
        for _, action, arn, context in handler_requests()
        if not allows(smaller, action, arn, context)
    }
    assert missing == {"ecs:DescribeServiceDeployments", "ecs:StopServiceDeployment"}


def granted_actions(policy: dict) -> set[str]:
    return {
        action
        for statement in policy["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }


def test_the_deploy_role_grants_nothing_that_nothing_calls(recorded_release):
    calls, _ = recorded_release
    used = (
        {action for action, _ in calls}
        | set(DOCKER_PUSH_ACTIONS)
        | RELEASE_READS
        | CLOUDFORMATION_READS_TEMPLATES
        | {action for _, action, _, _ in handler_requests()}
    )
    assert granted_actions(deploy_role_policy()) - used == set()


STAGING = "predict-api-staging"  # another root stack in the same account


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STAGING}/0f0e0d0c-0b0a-0908-0706-050403020100",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STAGING}-Service-1A2B3C/0f0e0d0c",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{STAGING}/{STAGING}",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{STAGING}:1",
        f"arn:aws:iam::{ACCOUNT}:role/{STAGING}/ecs/{STAGING}-TaskRole-1A2B3C",
        f"arn:aws:iam::{ACCOUNT}:role/{STAGING}/delivery/{STAGING}-InfrastructureRole-1A2B3C",
    ],
)
@pytest.mark.parametrize("passed_to", ["ecs-tasks.amazonaws.com", "ecs.amazonaws.com"])
def test_nothing_reaches_another_root_stack_with_a_longer_name(arn, passed_to):
    policy = deploy_role_policy()
    context = {"iam:PassedToService": passed_to, "ecs:CreateAction": "RegisterTaskDefinition"}
    # Actions without resource-level permissions (Resource "*") reach every ARN by nature.
    scoped = {a for a in granted_actions(policy) if not allows(policy, a, "*", context)}
    assert scoped, "the check needs actions that are scoped to resources"
    assert [a for a in sorted(scoped) if allows(policy, a, arn, context)] == []


def test_parliament_finds_nothing_but_actions_newer_than_its_data():
    """parliament lints the policy (resource formats, conditions, known actions); its bundled IAM
    data is older than policy_sentry's, so an action only policy_sentry knows is not a finding."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament's pkg_resources import warns
        import parliament

    findings = parliament.analyze_policy_string(json.dumps(deploy_role_policy())).findings
    real = []
    for finding in findings:
        if finding.issue == "UNKNOWN_ACTION":
            service, name = finding.location["string"].split(":")
            if get_action_data(service, name):
                continue
        real.append((finding.issue, finding.detail))
    assert real == []
