"""What botocore raises when credentials, configuration or the network are wrong, turned into one
line that says what to do and a documented exit code (never exit 1 "a bug")."""

from __future__ import annotations

import os
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
from botocore.parsers import ResponseParserError

from release_tool.errors import ExitCode, ReleaseError
from release_tool.regions import NO_REGION

NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (aws sso login) or AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY, or run in GitHub Actions with the OIDC role"
)


def _profile() -> str:
    return os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"


def classify(error: BaseException, state: Any) -> ReleaseError | None:
    """A ReleaseError for a known credential/config/network failure, else None."""
    started = getattr(state, "update_started", False)
    stack_name = getattr(state, "stack_name", "predict-api")
    if isinstance(error, (ConnectionError, ResponseParserError)) and started:
        # The update is under way: like a timeout, not a missing prerequisite.
        return ReleaseError(
            ExitCode.TIMEOUT,
            f"lost the connection to AWS while watching the release ({error}); the stack update "
            "carries on in CloudFormation; keep watching with `aws cloudformation "
            f"describe-stack-events --stack-name {stack_name}`",
        )
    if isinstance(error, NoCredentialsError):
        return ReleaseError(ExitCode.PREREQUISITE, NO_CREDENTIALS)
    if isinstance(error, NoRegionError):
        return ReleaseError(ExitCode.PREREQUISITE, NO_REGION)
    if isinstance(error, ProfileNotFound):
        profile = error.kwargs.get("profile", _profile())
        return ReleaseError(
            ExitCode.PREREQUISITE,
            f"AWS profile {profile!r} (AWS_PROFILE) is not in your AWS config: create it with "
            f"`aws configure --profile {profile}` (or `aws configure sso`), or unset AWS_PROFILE",
        )
    if isinstance(error, (SSOError, TokenRetrievalError)):
        return ReleaseError(
            ExitCode.PREREQUISITE,
            f"no valid AWS SSO login for profile {_profile()!r}: run "
            f"`aws sso login --profile {_profile()}`, then retry",
        )
    if isinstance(error, (PartialCredentialsError, CredentialRetrievalError)):
        return ReleaseError(
            ExitCode.PREREQUISITE, f"AWS credentials are incomplete or unusable: {error}"
        )
    if isinstance(error, InvalidRegionError):
        region = error.kwargs.get("region_name", "?")
        return ReleaseError(
            ExitCode.USAGE,
            f"invalid AWS region {region!r} (from AWS_REGION, AWS_DEFAULT_REGION or your profile):"
            " expected a region name such as us-east-1",
        )
    if isinstance(error, ResponseParserError):
        return ReleaseError(
            ExitCode.PREREQUISITE,
            "the AWS endpoint answered with something that is not an AWS response (a proxy or "
            "captive portal?): check HTTPS_PROXY/HTTP_PROXY and AWS_ENDPOINT_URL",
        )
    if isinstance(error, ConnectionError):
        # Endpoint, connect timeout, proxy or TLS failure before anything changed. An unknown
        # region has no endpoint either: its host name does not resolve.
        return ReleaseError(
            ExitCode.PREREQUISITE,
            f"cannot reach AWS: {error}: check --region (or AWS_REGION), the network or proxy, "
            "and AWS_ENDPOINT_URL if set",
        )
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "AWS call")
        return ReleaseError(
            ExitCode.ERROR, f"{operation} failed: {err.get('Code')}: {err.get('Message')}"
        )
    if isinstance(error, BotoCoreError):
        return ReleaseError(ExitCode.ERROR, f"AWS SDK error: {error}")
    return None
