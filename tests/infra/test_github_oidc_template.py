"""github-oidc.yaml: who may assume the deploy role, and exactly what it may do."""

from __future__ import annotations

import pytest

from .conftest import ACCOUNT, REGION, REPOSITORY_ARN, STACK, load, oidc_params, refused_for, render

EXISTING_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
# The only actions allowed on Resource "*": none of them has resource-level permissions.
UNSCOPABLE = {
    "ecr:GetAuthorizationToken",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ecr:GetRegistryScanningConfiguration",
    "inspector2:ListCoverage",
    "inspector2:ListFindings",
}


def role(stack):
    return stack["Resources"]["DeployRole"]["Properties"]


def statements(stack):
    (policy,) = role(stack)["Policies"]
    return policy["PolicyDocument"]["Statement"]


def actions(statement):
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


def resources(statement):
    resource = statement["Resource"]
    return [resource] if isinstance(resource, str) else resource


def allowed(stack, action):
    """Resources the role may use `action` on (exact action names only)."""
    return [r for s in statements(stack) if action in actions(s) for r in resources(s)]


@pytest.fixture(scope="module")
def stack():
    return render("github-oidc.yaml", oidc_params())


def test_creates_the_github_provider_for_sts_by_default(stack):
    provider = stack["Resources"]["GitHubOidcProvider"]["Properties"]
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    trust = role(stack)["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Federated": "GitHubOidcProvider"}


def test_uses_an_existing_provider_when_given():
    stack = render("github-oidc.yaml", oidc_params(ExistingOidcProviderArn=EXISTING_PROVIDER))
    assert "GitHubOidcProvider" not in stack["Resources"]
    trust = role(stack)["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Federated": EXISTING_PROVIDER}
    assert stack["Outputs"]["OidcProviderArn"]["Value"] == EXISTING_PROVIDER


def test_trust_requires_sts_audience_the_exact_subject_and_the_branch(stack):
    # What each condition admits is proven in test_github_oidc_trust.py; here, its exact shape.
    (trust,) = role(stack)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": (
                "repo:octo-org/predict-api:ref:refs/heads/main"
            ),
            "token.actions.githubusercontent.com:ref": "refs/heads/main",
        }
    }


def test_trust_with_an_environment_requires_the_exact_environment_subject():
    stack = render("github-oidc.yaml", oidc_params(GitHubEnvironment="production"))
    (trust,) = role(stack)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:octo-org/predict-api:environment:production"
    )


def test_no_wildcard_action_and_no_managed_admin_policy(stack):
    assert "ManagedPolicyArns" not in role(stack)
    for statement in statements(stack):
        assert statement["Effect"] == "Allow"
        for action in actions(statement):
            assert "*" not in action, action


def test_resource_star_only_for_actions_without_resource_level_permissions(stack):
    star = {a for s in statements(stack) if "*" in resources(s) for a in actions(s)}
    assert star == UNSCOPABLE


def test_ecr_push_only_to_this_repository(stack):
    for action in ("ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:CompleteLayerUpload"):
        assert allowed(stack, action) == [REPOSITORY_ARN]


def test_cloudformation_only_on_this_stack_and_its_nested_stacks(stack):
    base = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack"
    root = load("root.yaml")["Resources"]
    nested = {
        f"{base}/{STACK}-{name}-*/*"
        for name, resource in root.items()
        if resource["Type"] == "AWS::CloudFormation::Stack"
    }
    for action in ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"):
        assert set(allowed(stack, action)) == {f"{base}/{STACK}/*", *nested}
    # Only CloudFormation itself updates stacks directly, and only the nested ones.
    assert set(allowed(stack, "cloudformation:UpdateStack")) == nested


def test_ecs_service_and_task_family_scoped_by_name(stack):
    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{STACK}/{STACK}"
    assert allowed(stack, "ecs:UpdateService") == [service]
    assert allowed(stack, "ecs:DescribeServices") == [service]
    family = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{STACK}:*"
    assert allowed(stack, "ecs:RegisterTaskDefinition") == [family]
    (tag,) = [
        s for s in statements(stack) if s["Resource"] == family and s["Action"] == "ecs:TagResource"
    ]
    assert tag["Condition"] == {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}


def test_pass_role_only_for_the_stacks_roles_each_to_its_own_service(stack):
    passes = [s for s in statements(stack) if "iam:PassRole" in actions(s)]
    assert all(actions(s) == ["iam:PassRole"] for s in passes)
    # service.yaml puts exactly the task role and the execution role on the ecs path, which ECS
    # tasks assume; delivery.yaml its roles on the delivery path, the one ECS itself assumes.
    tasks, delivery = f"/{STACK}/ecs/", f"/{STACK}/delivery/"
    assert {s["Resource"]: s["Condition"] for s in passes} == {
        f"arn:aws:iam::{ACCOUNT}:role{tasks}*": {
            "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        },
        f"arn:aws:iam::{ACCOUNT}:role{delivery}*": {
            "StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}
        },
    }
    assert role(stack)["Path"] not in (tasks, delivery)  # the deploy role cannot pass itself


def test_reads_packaged_templates_from_the_artifacts_bucket_only(stack):
    bucket = oidc_params()["ArtifactsBucketName"]
    assert allowed(stack, "s3:GetObject") == [f"arn:aws:s3:::{bucket}/*"]
    assert all(not a.startswith("s3:Put") for s in statements(stack) for a in actions(s))


@pytest.mark.parametrize(
    "bad",
    [
        {"GitHubRepository": "octo-org/*"},
        {"GitHubRepository": "*"},
        {"GitHubRepository": "octo-org@*/predict-api"},
        {"GitHubBranch": "*"},
        {"GitHubEnvironment": "prod*"},
        {"ExistingOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/accounts.google.com"},
    ],
)
def test_wildcards_cannot_reach_the_trust_policy(bad):
    with pytest.raises(ValueError, match=refused_for(bad)):
        render("github-oidc.yaml", oidc_params(**bad))
