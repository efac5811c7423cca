"""The root stack's parameters file (cloudformation/parameters.json): read and checked before any
AWS call, so that a bad value never leaves half a deployment behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

from release_tool import package
from release_tool.errors import ExitCode, ReleaseError

# The example file's repository: deploying it would let someone else's workflow assume the role.
EXAMPLE_REPOSITORY = "octo-org/predict-api"
SET_BY_THE_TOOL = ("ImageTag", "ArtifactsBucketName")


def _refuse(message: str) -> ReleaseError:
    return ReleaseError(ExitCode.USAGE, message)


def read(path: Path) -> dict[str, str]:
    """NAME -> value (as strings), from a JSON object or CreateStack's list form."""
    if not path.is_file():
        raise _refuse(f"parameters file '{path}' does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise _refuse(f"parameters file {path} is not JSON: {error}") from None
    if isinstance(data, list):  # [{"ParameterKey": .., "ParameterValue": ..}]
        data = {p.get("ParameterKey"): p.get("ParameterValue") for p in data if isinstance(p, dict)}
    if not isinstance(data, dict) or not all(isinstance(k, str) and k for k in data):
        raise _refuse(f"parameters file {path} must be a JSON object of NAME: value")
    values = {name: "" if value is None else str(value) for name, value in data.items()}
    check(values, path)
    return values


def check(values: dict[str, str], path: Path) -> None:
    for name in SET_BY_THE_TOOL:
        if name in values:
            raise _refuse(f"{name} must not be in the parameters file (the tool sets it)")
    for name, value in values.items():
        if "\n" in value:
            raise _refuse(f"parameter {name} contains a newline")
    if "GitHubRepository" in values:
        repository = values["GitHubRepository"].strip()
        if not repository:
            raise _refuse(f"GitHubRepository is empty in {path}: set your OWNER/REPO")
        if repository.lower() == EXAMPLE_REPOSITORY:
            raise _refuse(
                f"GitHubRepository in {path} is the example's {EXAMPLE_REPOSITORY}: set your "
                "OWNER/REPO (the deploy role trusts that repository's workflows)"
            )
    _check_domain(values, path)
    # CloudFormation cannot compare two parameters, and the scalable target fails mid-create when
    # its maximum is below its minimum. One without the other keeps the stack's previous value,
    # which cannot be checked here: refused.
    counts = [k for k in ("DesiredCount", "MaxCount") if k in values]
    if len(counts) == 1:
        raise _refuse(
            f"set DesiredCount and MaxCount together in the parameters file (only {counts[0]} is"
            " there; the other would keep the stack's previous value, which cannot be checked)"
        )
    if counts:
        try:
            desired, maximum = int(values["DesiredCount"]), int(values["MaxCount"])
        except ValueError:
            return  # not a number: CloudFormation rejects it with its own message
        if maximum < desired:
            raise _refuse(
                f"MaxCount {maximum} is below DesiredCount {desired}; autoscaling needs "
                "MaxCount >= DesiredCount"
            )


def _check_domain(values: dict[str, str], path: Path) -> None:
    """root.yaml's Rules and patterns, checked here so that a wrong value fails in one line before
    anything is created, not as a change set error."""
    domain, zone = values.get("DomainName", ""), values.get("HostedZoneId", "")
    if domain and not zone:
        raise _refuse(
            f"DomainName is set but HostedZoneId is not in {path}: set both (HostedZoneId: the "
            "Route 53 public zone that holds the name) or neither"
        )
    if zone and not domain:
        raise _refuse(
            f"HostedZoneId is set but DomainName is not in {path}: set both (DomainName: the name "
            "to serve inside that zone) or neither"
        )
    if domain and values.get("CertificateArn"):
        raise _refuse(
            f"DomainName and CertificateArn are both set in {path}: the stack issues the "
            "certificate for DomainName; set one of them"
        )
    if not domain:
        return
    patterns = package.parameter_patterns(package.ROOT_TEMPLATE)
    # ACM's limit for a certificate's name (RequestCertificate, DomainName: at most 253).
    if len(domain) > 253 or not re.fullmatch(patterns["DomainName"], domain):
        raise _refuse(
            f"DomainName {domain!r} in {path} is not a DNS name: lower-case labels of letters, "
            "digits and inner hyphens, dot-separated, no trailing dot (e.g. api.example.com)"
        )
    if not re.fullmatch(patterns["HostedZoneId"], zone):
        raise _refuse(
            f"HostedZoneId {zone!r} in {path} is not a hosted zone ID: Z and capitals or digits, "
            "without /hostedzone/ (e.g. Z0123456789ABCDEFGHIJ)"
        )


def certificate_warning(values: dict[str, str], path: Path) -> str | None:
    """No certificate = a load balancer that answers plain HTTP only: say so."""
    how_to = 'set DomainName and HostedZoneId (README "The public edge")'
    if values.get("DomainName"):
        return None
    if "CertificateArn" not in values:
        return (
            f"no DomainName nor CertificateArn in {path}: a new stack serves plain HTTP only (an "
            f"existing one keeps its certificate, if any); {how_to}"
        )
    if not values["CertificateArn"]:
        return (
            f"DomainName and CertificateArn are empty in {path}: the service is served over "
            f"plain HTTP only; {how_to}"
        )
    return None
