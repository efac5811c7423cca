"""Account-wide things the root stack needs and cannot create itself: the ECS service-linked role
and the one GitHub OIDC provider an account can have."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter

ECS_ROLE = "AWSServiceRoleForECS"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


def ensure_ecs_service_linked_role(iam: Any, reporter: Reporter, dry_run: bool) -> None:
    """On an account that never used ECS, CreateCluster can fail "Unable to assume the service
    linked role" while ECS creates that role itself (aws-cloudformation/
    cloudformation-coverage-roadmap#818): create it first. Needs iam:CreateServiceLinkedRole."""
    try:
        iam.get_role(RoleName=ECS_ROLE)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
    if dry_run:
        reporter.info(f"dry run: would create the ECS service-linked role {ECS_ROLE}")
        return
    try:
        iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")
    except ClientError as error:
        err = error.response.get("Error", {})
        message = err.get("Message", "")
        if "has been taken" in message or "already exists" in message:
            return  # created meanwhile (by ECS itself, or another deploy): that is success
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            f"cannot create the ECS service-linked role {ECS_ROLE} ({err.get('Code')}: {message}):"
            " the infrastructure deploy needs iam:CreateServiceLinkedRole for ecs.amazonaws.com",
        ) from None
    reporter.info(f"created the ECS service-linked role {ECS_ROLE}")


def github_oidc_provider(iam: Any) -> str | None:
    """The account's GitHub OIDC provider ARN, if it has one (one per account and URL)."""
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    found = [p["Arn"] for p in providers if p["Arn"].endswith(f"/{GITHUB_OIDC_HOST}")]
    return found[0] if found else None
