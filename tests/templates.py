"""CloudFormation templates as test data, shared by tests/infra and tests/release: load them as
plain data, render them with cloud-radar (plus what it leaves out: Number AllowedValues, Rules), and
the parameters root.yaml passes to each nested stack, as concrete values."""

from __future__ import annotations

import json
from pathlib import Path

from cfnlint.decode import decode_str
from cloud_radar.cf.unit import Template, functions

REPO_ROOT = Path(__file__).resolve().parent.parent
CFN_DIR = REPO_ROOT / "cloudformation"
REGION = "us-east-1"
ACCOUNT = "123456789012"

# cloud-radar downloads region data for Fn::GetAZs; the tests stay offline with two fixed regions.
OFFLINE_REGION_DATA = [
    {"code": "us-east-1", "zones": ["us-east-1a", "us-east-1b", "us-east-1c"]},
    {"code": "eu-west-1", "zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]},
]

# What the root passes to the children, as concrete values (the root's GetAtts become these).
VPC_ID = "vpc-0123456789abcdef0"
PUBLIC_SUBNETS = "subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2"
PRIVATE_SUBNETS = "subnet-0bbbbbbbbbbbbbbb1,subnet-0bbbbbbbbbbbbbbb2"
REPOSITORY_NAME = "predict-registry-1abc"
REPOSITORY_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY_NAME}"
REPOSITORY_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPOSITORY_NAME}"
IMAGE_TAG = "0123456789abcdef0123456789abcdef01234567"
CERTIFICATE_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/12345678-1234-1234-1234-123456789012"
STACK = "predict-api"
ALARM_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-Service-1ABC-AlarmTopic-2DEF"


def load(name: str) -> dict:
    """A template as plain data, intrinsic functions left as dicts."""
    template, errors = decode_str((CFN_DIR / name).read_text())
    assert not errors, errors
    return json.loads(json.dumps(template))


def check_number_allowed_values(template: dict, params: dict) -> None:
    """cloud-radar 0.17 checks AllowedValues of String parameters only; CloudFormation of all."""
    for name, value in params.items():
        definition = template["Parameters"].get(name, {})
        allowed = definition.get("AllowedValues")
        if (
            definition.get("Type") == "Number"
            and allowed
            and float(value) not in map(float, allowed)
        ):
            raise ValueError(f"Value {value} not in allowed values for parameter {name}")


def refused_for(bad: dict) -> str:
    """The `match=` for a render refused because of the one parameter in `bad`: cloud-radar's
    constraint errors end "... for parameter NAME", while a misspelt or unknown parameter raises a
    ValueError too ("not in the Template"), which a bare raises would take for a refusal."""
    (name,) = bad
    return f"for parameter {name}$"


def _rule_value(node, values: dict):
    """One expression of a template's Rules section (the functions Rules allow that ours use)."""
    if not isinstance(node, dict):
        return node
    ((function, argument),) = node.items()
    if function == "Ref":
        return values[argument]
    arguments = [_rule_value(item, values) for item in argument]
    if function == "Fn::Equals":
        return arguments[0] == arguments[1]
    if function == "Fn::Not":
        return not arguments[0]
    if function == "Fn::And":
        return all(arguments)
    if function == "Fn::Or":
        return any(arguments)
    if function == "Fn::Contains":
        return arguments[1] in arguments[0]
    raise NotImplementedError(f"Rules function {function}")


def check_rules(template: dict, params: dict, region: str) -> None:
    """cloud-radar 0.17 ignores the Rules section; CloudFormation refuses the stack with the failed
    assertion's AssertDescription before it creates anything."""
    values = {name: p.get("Default", "") for name, p in template.get("Parameters", {}).items()}
    values.update(params)
    values["AWS::Region"] = region
    for rule in template.get("Rules", {}).values():
        if not _rule_value(rule.get("RuleCondition", True), values):
            continue
        for assertion in rule["Assertions"]:
            if not _rule_value(assertion["Assert"], values):
                raise ValueError(assertion["AssertDescription"])


def render(
    name: str, params: dict | None = None, region: str = REGION, stack_name: str = STACK
) -> dict:
    """Render a template (Conditions, Ref, Sub, If, Cidr...) with cloud-radar; checks parameters
    and the template's Rules. stack_name is what AWS::StackName reads."""
    functions.REGION_DATA = OFFLINE_REGION_DATA
    params = {k: str(v) for k, v in (params or {}).items()}
    template = Template.from_yaml(str(CFN_DIR / name), imports={})
    check_number_allowed_values(template.template, params)
    check_rules(load(name), params, region)
    template.StackName = stack_name
    template.AccountId = ACCOUNT
    return template.create_stack(params, region)


def service_params(**overrides) -> dict:
    """The parameters root.yaml passes to service.yaml (with its defaults)."""
    params = {
        "RootStackName": STACK,
        "VpcId": VPC_ID,
        "VpcCidr": "10.0.0.0/16",
        "PublicSubnetIds": PUBLIC_SUBNETS,
        "PrivateSubnetIds": PRIVATE_SUBNETS,
        "RepositoryUri": REPOSITORY_URI,
        "RepositoryArn": REPOSITORY_ARN,
        "ImageTag": IMAGE_TAG,
        "TaskSize": "512/1024",
        "DesiredCount": 2,
        "MaxCount": 6,
        "CertificateArn": "",
        "LogRetentionDays": 30,
        "LogLevel": "info",
        "AccessLogsBucketName": "predict-api-edge-accesslogsbucket-1abcdefghijk",
        "AlarmEmail": "",
    }
    return {**params, **overrides}


def monitoring_params(**overrides) -> dict:
    """The parameters root.yaml passes to monitoring.yaml."""
    params = {
        "RootStackName": STACK,
        "ClusterName": STACK,
        "ServiceName": STACK,
        "LoadBalancerFullName": "app/predi-LoadB-1ABC/0123456789abcdef",
        "TargetGroupFullName": "targetgroup/predi-Targe-1ABC/0123456789abcdef",
        "LogGroupName": f"/ecs/{STACK}",
        "AlarmTopic": ALARM_TOPIC_ARN,
        "ConsoleHost": "console.aws.amazon.com",
    }
    return {**params, **overrides}


def edge_params(**overrides) -> dict:
    """The parameters root.yaml passes to edge.yaml (us-east-1's log-delivery account)."""
    params = {"RootStackName": STACK, "ElbLogDeliveryAccount": "127311923021"}
    return {**params, **overrides}


def oidc_params(**overrides) -> dict:
    """The parameters root.yaml passes to github-oidc.yaml."""
    params = {
        "RootStackName": STACK,
        "GitHubRepository": "octo-org/predict-api",
        "GitHubBranch": "main",
        "GitHubEnvironment": "",
        "ExistingOidcProviderArn": "",
        "RepositoryArn": REPOSITORY_ARN,
        "ArtifactsBucketName": "predict-api-artifacts-123456789012-us-east-1",
    }
    return {**params, **overrides}


ELB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"


def delivery_params(**overrides) -> dict:
    """What service.yaml passes to delivery.yaml, as concrete values."""
    params = {
        "RootStackName": STACK,
        "VpcId": VPC_ID,
        "VpcCidr": "10.0.0.0/16",
        "PrivateSubnetIds": PRIVATE_SUBNETS,
        "LoadBalancerArn": f"{ELB}:loadbalancer/app/predi/0123",
        "LoadBalancerFullName": "app/predi/0123",
        "LoadBalancerDnsName": "predi-123.us-east-1.elb.amazonaws.com",
        "LoadBalancerSecurityGroupId": "sg-0123456789abcdef0",
        "ProductionListenerArn": f"{ELB}:listener/app/predi/0123/45",
        "TargetGroupArn": f"{ELB}:targetgroup/t/0123",
    }
    return {**params, **overrides}


def root_params(**overrides) -> dict:
    """The root's required parameters (everything else at its default)."""
    return {
        "ArtifactsBucketName": "predict-api-artifacts-123456789012-us-east-1",
        "GitHubRepository": "octo-org/predict-api",
        **overrides,
    }
