"""root.yaml: the layers it nests, how it wires them, the ImageTag contract and its outputs."""

from __future__ import annotations

import re

import pytest

from .conftest import (
    ACCOUNT,
    CERTIFICATE_ARN,
    CFN_DIR,
    REGION,
    STACK,
    load,
    refused_for,
    render,
    root_params,
)

CONTRACT_OUTPUTS = {
    "RepositoryUri",
    "RepositoryName",
    "ClusterName",
    "ServiceName",
    "ServiceUrl",
    "DeployRoleArn",
    "DashboardUrl",
    "AlarmTopicArn",
    "LogGroupName",
    "ArtifactsBucketName",
    "AccessLogsBucketName",
    "WafLogGroupName",
    "VpcFlowLogGroupName",
    "CertificateArn",
}
SERVICE_DEPENDENT_OUTPUTS = {
    "ClusterName",
    "ServiceName",
    "ServiceUrl",
    "DashboardUrl",
    "AlarmTopicArn",
    "LogGroupName",
    "AccessLogsBucketName",
    "WafLogGroupName",
    "CertificateArn",
}


def nested_stacks(template: dict) -> dict:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudFormation::Stack"
    }


def test_every_template_url_is_a_local_file_that_exists():
    # cfn-lint only logs a missing child template and exits 0: this is the check.
    urls, parents = set(), ["root.yaml"]
    while parents:  # nested stacks at any depth (service.yaml nests delivery.yaml)
        children = {
            r["Properties"]["TemplateURL"] for r in nested_stacks(load(parents.pop())).values()
        }
        parents += sorted(children - urls)
        urls |= children
    # No template lies unused beside them.
    # (bootstrap.yaml is deployed on its own before the root: it holds the artifacts bucket.)
    assert urls == {path.name for path in CFN_DIR.glob("*.yaml")} - {"root.yaml", "bootstrap.yaml"}
    for url in urls:
        assert not re.match(r"^(https?|s3)://", url), f"{url} must stay local for `package`"
        assert (CFN_DIR / url).is_file(), f"TemplateURL {url} does not exist"


def test_every_parameter_passed_to_a_child_is_declared_by_it():
    root = load("root.yaml")
    for name, stack in nested_stacks(root).items():
        child = load(stack["Properties"]["TemplateURL"])
        passed = set(stack["Properties"].get("Parameters", {}))
        declared = set(child.get("Parameters", {}))
        assert passed <= declared, f"{name} passes unknown {passed - declared}"
        required = {k for k, v in child["Parameters"].items() if "Default" not in v}
        assert required <= passed, f"{name} misses required {required - passed}"


def test_first_deploy_without_image_creates_no_service_and_no_service_outputs():
    stack = render("root.yaml", root_params())
    assert set(stack["Resources"]) == {"Network", "Registry", "GitHubOidc"}
    assert set(stack["Outputs"]) == CONTRACT_OUTPUTS - SERVICE_DEPENDENT_OUTPUTS


def test_release_with_image_tag_creates_service_and_monitoring_and_every_contract_output():
    stack = render("root.yaml", root_params(ImageTag="abc1234"))
    assert set(stack["Resources"]) == {
        "Network",
        "Registry",
        "GitHubOidc",
        "Edge",
        "Service",
        "Monitoring",
    }
    assert set(stack["Outputs"]) == CONTRACT_OUTPUTS
    service = stack["Resources"]["Service"]["Properties"]["Parameters"]
    assert service["ImageTag"] == "abc1234"
    assert service["RootStackName"] == STACK
    assert (
        service["RepositoryUri"] == "Registry.Outputs.RepositoryUri"
    )  # cloud-radar's GetAtt rendering
    assert service["PrivateSubnetIds"] == "Network.Outputs.PrivateSubnetIds"
    monitoring = stack["Resources"]["Monitoring"]["Properties"]["Parameters"]
    assert monitoring["LoadBalancerFullName"] == "Service.Outputs.LoadBalancerFullName"
    assert monitoring["AlarmTopic"] == "Service.Outputs.AlarmTopicArn"
    assert service["DesiredCount"] == 2


def test_image_repository_override_points_the_service_at_that_repository():
    stack = render("root.yaml", root_params(ImageTag="abc1234", ImageRepositoryName="shared/app"))
    service = stack["Resources"]["Service"]["Properties"]["Parameters"]
    assert service["RepositoryUri"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/shared/app"
    assert service["RepositoryArn"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/shared/app"


def test_root_forwards_its_choices_to_the_children():
    stack = render(
        "root.yaml",
        root_params(
            ImageTag="abc1234",
            NatGateways="per-az",
            CertificateArn=f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012",
            AlarmEmail="ops@example.com",
            GitHubEnvironment="production",
            TaskSize="1024/2048",
        ),
    )
    resources = stack["Resources"]
    assert resources["Network"]["Properties"]["Parameters"]["NatGateways"] == "per-az"
    assert resources["Service"]["Properties"]["Parameters"]["CertificateArn"].startswith(
        "arn:aws:acm:"
    )
    assert resources["Service"]["Properties"]["Parameters"]["TaskSize"] == "1024/2048"
    assert resources["Service"]["Properties"]["Parameters"]["AlarmEmail"] == "ops@example.com"
    assert resources["GitHubOidc"]["Properties"]["Parameters"]["GitHubEnvironment"] == "production"


def test_image_tag_default_is_empty_meaning_no_image_yet():
    assert load("root.yaml")["Parameters"]["ImageTag"]["Default"] == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"ImageTag": "ABCDEF1"},  # upper case is not a git SHA
        {"ImageTag": "abc12"},  # too short
        {"ImageTag": "a" * 41},  # too long
        {"ImageTag": "latest"},
        {"ArtifactsBucketName": "Not_A_Bucket"},
        {"GitHubRepository": "octo-org/*"},  # wildcards would widen the trust policy
        {"GitHubRepository": "no-slash"},
        {"TaskSize": "256/4096"},  # not a valid Fargate pair
        {"DesiredCount": "0"},
        {"DesiredCount": "21"},
        {"NatGateways": "none"},
        {"VpcCidr": "10.0.0.0/8"},
        {"VpcCidr": "10.0.0.0/24"},
        {"CertificateArn": "not-an-arn"},
        {"AlarmEmail": "nobody"},
        {"LogRetentionDays": "42"},
        {"ExistingOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/example.com"},
        {"ImageRepositoryName": "Upper/Case"},
    ],
)
def test_bad_parameter_values_are_rejected_before_anything_is_created(bad):
    with pytest.raises(ValueError, match=refused_for(bad)):
        render("root.yaml", root_params(**bad))


DOMAIN = {"DomainName": "api.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}


def test_a_domain_and_its_zone_reach_the_service_and_its_certificate_becomes_an_output():
    stack = render("root.yaml", root_params(ImageTag="abc1234", **DOMAIN))
    service = stack["Resources"]["Service"]["Properties"]["Parameters"]
    assert service["DomainName"] == "api.example.com"
    assert service["HostedZoneId"] == "Z0123456789ABCDEFGHIJ"
    # The release tool reads these two: the URL to check and the certificate to report on.
    assert stack["Outputs"]["ServiceUrl"]["Value"] == "Service.Outputs.ServiceUrl"
    assert stack["Outputs"]["CertificateArn"]["Value"] == "Service.Outputs.CertificateArn"


@pytest.mark.parametrize(
    ("given", "refusal"),
    [
        ({"DomainName": "api.example.com"}, "DomainName needs HostedZoneId"),
        ({"HostedZoneId": "Z0123456789ABCDEFGHIJ"}, "HostedZoneId needs DomainName"),
        ({**DOMAIN, "CertificateArn": CERTIFICATE_ARN}, "not both"),
    ],
)
def test_the_rules_refuse_half_a_domain_and_two_certificate_sources(given, refusal):
    # CloudFormation evaluates Rules before it creates anything (conftest.check_rules plays them).
    with pytest.raises(ValueError, match=refusal):
        render("root.yaml", root_params(ImageTag="abc1234", **given))


@pytest.mark.parametrize("given", [{}, DOMAIN, {"CertificateArn": CERTIFICATE_ARN}])
def test_each_allowed_https_choice_passes_the_rules(given):
    render("root.yaml", root_params(ImageTag="abc1234", **given))


@pytest.mark.parametrize("architecture", ["X86_64", "ARM64"])
def test_the_cpu_architecture_reaches_the_service(architecture):
    stack = render("root.yaml", root_params(ImageTag="abc1234", CpuArchitecture=architecture))
    service = stack["Resources"]["Service"]["Properties"]["Parameters"]
    assert service["CpuArchitecture"] == architecture


def test_x86_64_is_the_default_architecture_and_nothing_else_is_accepted():
    assert load("root.yaml")["Parameters"]["CpuArchitecture"]["Default"] == "X86_64"
    bad = {"CpuArchitecture": "arm64"}
    with pytest.raises(ValueError, match=refused_for(bad)):
        render("root.yaml", root_params(**bad))


@pytest.mark.parametrize("enabled", ["true", "false"])
def test_vpc_flow_logs_are_on_by_default_and_the_switch_reaches_the_network(enabled):
    assert load("root.yaml")["Parameters"]["EnableVpcFlowLogs"]["Default"] == "true"
    stack = render("root.yaml", root_params(EnableVpcFlowLogs=enabled, LogRetentionDays=14))
    network = stack["Resources"]["Network"]["Properties"]["Parameters"]
    assert network["EnableFlowLogs"] == enabled
    assert network["LogRetentionDays"] == "14"
