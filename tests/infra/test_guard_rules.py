"""cloudformation/policies/security.guard over every rendered template (each Condition branch), with
cfn-guard-rs in process; and each rule proven able to fail on a template that breaks its promise."""

from __future__ import annotations

import copy
import re

import pytest

from .conftest import (
    CERTIFICATE_ARN,
    SECURITY_RULES,
    edge_params,
    failed_rules,
    guard,
    monitoring_params,
    oidc_params,
    render,
    service_params,
)

RULE_NAMES = set(re.findall(r"^rule (\w+)", SECURITY_RULES, re.MULTILINE))

# Every child in every Condition branch (root.yaml holds only nested stacks: no rule applies).
VARIANTS = {
    "network-shared-nat": ("network.yaml", {}),
    "network-nat-per-az": ("network.yaml", {"NatGateways": "per-az"}),
    "registry": ("registry.yaml", {}),
    "edge-waf": ("edge.yaml", edge_params()),
    "service-http": ("service.yaml", service_params()),
    "service-https": ("service.yaml", service_params(CertificateArn=CERTIFICATE_ARN)),
    "service-domain": (
        "service.yaml",
        service_params(DomainName="api.example.com", HostedZoneId="Z0123456789ABCDEFGHIJ"),
    ),
    "service-arm64": ("service.yaml", service_params(CpuArchitecture="ARM64")),
    "monitoring": ("monitoring.yaml", monitoring_params()),
    "service-email": ("service.yaml", service_params(AlarmEmail="ops@example.com")),
    "oidc-new-provider-branch": ("github-oidc.yaml", oidc_params()),
    "oidc-existing-provider-environment": (
        "github-oidc.yaml",
        oidc_params(
            GitHubEnvironment="production",
            ExistingOidcProviderArn="arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        ),
    ),
}


@pytest.fixture(scope="module")
def rendered():
    return {name: render(template, params) for name, (template, params) in VARIANTS.items()}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rules_pass_on_every_rendered_template(rendered, variant):
    report = guard(rendered[variant])
    assert failed_rules(report) == set(), report.not_compliant
    assert report.status == "PASS"


# Rules that guard a feature our templates do not use (so they are "not applicable" on every one);
# the breakage tests below still prove they fire.
GUARDS_ABSENT_FEATURE = {"iam_no_admin_managed_policy": "no role here has ManagedPolicyArns"}


def test_every_rule_applies_to_some_template(rendered):
    compliant = set()
    for stack in rendered.values():
        compliant |= set(guard(stack).compliant)
    # A rule that silently matches nothing protects nothing.
    assert compliant == RULE_NAMES - set(GUARDS_ABSENT_FEATURE)


def _set(path: list, value):
    def mutate(stack):
        node = stack["Resources"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _append(path: list, value):
    def mutate(stack):
        node = stack["Resources"]
        for key in path:
            node = node[key]
        node.append(value)

    return mutate


TD = ["TaskDefinition", "Properties", "ContainerDefinitions", 0]
DEPLOY = ["DeployRole", "Properties"]
STATEMENTS = [*DEPLOY, "Policies", 0, "PolicyDocument", "Statement"]
TRUST = [*DEPLOY, "AssumeRolePolicyDocument", "Statement", 0, "Condition"]
BREAKAGES = {
    "ecs_service_safe_deployments": (
        "service-http",
        _set(
            [
                "Service",
                "Properties",
                "DeploymentConfiguration",
                "DeploymentCircuitBreaker",
                "Rollback",
            ],
            False,
        ),
    ),
    "ecs_service_deployment_alarms_roll_back": (
        "service-http",
        _set(["Service", "Properties", "DeploymentConfiguration", "Alarms", "Rollback"], False),
    ),
    "ecs_service_count_left_to_autoscaling": (
        "service-http",
        _set(["Service", "Properties", "DesiredCount"], "2"),
    ),
    "ecs_service_no_public_ip": (
        "service-http",
        _set(
            [
                "Service",
                "Properties",
                "NetworkConfiguration",
                "AwsvpcConfiguration",
                "AssignPublicIp",
            ],
            "ENABLED",
        ),
    ),
    "containers_hardened": ("service-http", _set([*TD, "User"], "0:0")),
    "ecr_repository_hardened": (
        "registry",
        _set(["Repository", "Properties", "ImageTagMutability"], "MUTABLE"),
    ),
    "ecr_repository_retained": (
        "registry",
        _set(["Repository", "DeletionPolicy"], "Delete"),
    ),
    "iam_no_wildcard_actions": (
        "oidc-new-provider-branch",
        _append(
            STATEMENTS,
            {"Effect": "Allow", "Action": ["ecs:Describe*"], "Resource": "arn:aws:ecs:::x/*"},
        ),
    ),
    "iam_no_admin_managed_policy": (
        "oidc-new-provider-branch",
        _set([*DEPLOY, "ManagedPolicyArns"], ["arn:aws:iam::aws:policy/AdministratorAccess"]),
    ),
    "iam_wildcard_resource_only_where_unavoidable": (
        "oidc-new-provider-branch",
        _append(STATEMENTS, {"Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": "*"}),
    ),
    "iam_pass_role_scoped_to_a_service": (
        "oidc-new-provider-branch",
        _append(STATEMENTS, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}),
    ),
    "github_oidc_trust_is_exact": (
        "oidc-new-provider-branch",
        _set(
            [*TRUST], {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/*"}}
        ),
    ),
    "internet_ingress_only_http_https": (
        "service-http",
        _append(
            ["TaskSecurityGroup", "Properties", "SecurityGroupIngress"],
            {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8000, "CidrIp": "0.0.0.0/0"},
        ),
    ),
    "private_ingress_from_security_groups": (
        "service-http",
        _append(
            ["TaskSecurityGroup", "Properties", "SecurityGroupIngress"],
            {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8000, "CidrIpv6": "::/0"},
        ),
    ),
    "log_groups_have_retention": (
        "service-http",
        lambda s: s["Resources"]["LogGroup"]["Properties"].pop("RetentionInDays"),
    ),
    "clusters_have_container_insights": (
        "service-http",
        _set(
            ["Cluster", "Properties", "ClusterSettings"],
            [{"Name": "containerInsights", "Value": "disabled"}],
        ),
    ),
    "subnets_assign_no_public_ip": (
        "network-shared-nat",
        _set(["PublicSubnet1", "Properties", "MapPublicIpOnLaunch"], True),
    ),
    "alarms_notify": ("monitoring", _set(["CpuHighAlarm", "Properties", "AlarmActions"], [])),
    "vpc_flow_logs_enabled": (
        "network-shared-nat",
        lambda s: s["Resources"].pop("FlowLog"),
    ),
    "sns_topics_publish_only_over_tls": (
        "service-http",
        _set(
            ["AlarmTopicPolicy", "Properties", "PolicyDocument", "Statement", 0, "Effect"], "Allow"
        ),
    ),
}


def test_every_rule_has_a_breakage_case():
    assert set(BREAKAGES) == RULE_NAMES


@pytest.mark.parametrize("rule", sorted(BREAKAGES))
def test_each_rule_fails_when_its_promise_is_broken(rendered, rule):
    variant, mutate = BREAKAGES[rule]
    stack = copy.deepcopy(rendered[variant])
    mutate(stack)
    assert rule in failed_rules(guard(stack))


ROLES = "arn:aws:iam::123456789012:role/predict-api/delivery/*"
TO_ECS = {"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}}


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": ["iam:GetRole", "iam:PassRole"], "Resource": ROLES},  # in a list, no condition
        {"Action": "iam:PassRole", "Resource": [ROLES, "*"]},
        {"Action": "iam:PassRole", "Resource": ROLES, "Condition": {
            "StringLike": {"iam:PassedToService": "*"}}},  # to any service
        {"Action": "iam:PassRole", "Resource": ROLES, "Condition": {
            "StringEquals": {"iam:PassedToService": "*.amazonaws.com"}}},
    ],
)  # fmt: skip
def test_every_pass_role_needs_its_roles_and_one_service(rendered, statement):
    stack = copy.deepcopy(rendered["oidc-new-provider-branch"])
    _append(STATEMENTS, {"Effect": "Allow", **statement})(stack)
    assert failed_rules(guard(stack)) == {"iam_pass_role_scoped_to_a_service"}


def test_pass_role_in_a_policy_of_its_own_is_checked_too(rendered):
    stack = copy.deepcopy(rendered["oidc-new-provider-branch"])
    statement = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLES}
    stack["Resources"]["ExtraPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {"PolicyName": "x", "Roles": ["r"], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [statement]}},
    }  # fmt: skip
    assert failed_rules(guard(stack)) == {"iam_pass_role_scoped_to_a_service"}
    statement["Condition"] = TO_ECS
    assert failed_rules(guard(stack)) == set()


def test_turning_flow_logs_off_breaks_exactly_their_rule():
    stack = render("network.yaml", {"EnableFlowLogs": "false"})
    assert failed_rules(guard(stack)) == {"vpc_flow_logs_enabled"}
