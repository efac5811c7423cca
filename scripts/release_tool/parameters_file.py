"""The root stack's parameters file (cloudformation/parameters.json): read and checked before any
AWS call, so that a bad value never leaves half a deployment behind."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from release_tool import package
from release_tool.errors import ExitCode, ReleaseError

# The example file's repository: deploying it would let someone else's workflow assume the role.
EXAMPLE_REPOSITORY = "octo-org/predict-api"
SET_BY_THE_TOOL = ("ImageTag", "ArtifactsBucketName")


def _refuse(message: str) -> ReleaseError:
    return ReleaseError(ExitCode.USAGE, message)


class _Refused(Exception):
    """A duplicate name, met while the JSON is parsed (the path is added by read)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:  # json.loads would keep the last one silently
            raise _Refused(f"has {name!r} twice in one object")
        found[name] = value
    return found


def read(path: Path) -> dict[str, str]:
    """NAME -> value (as strings), from a JSON object or CreateStack's list form."""
    if not path.is_file():
        raise _refuse(f"parameters file '{path}' does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_pairs)
    except _Refused as refused:
        raise _refuse(f"parameters file {path} {refused}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise _refuse(f"parameters file {path} is not JSON: {error}") from None
    if isinstance(data, list):  # [{"ParameterKey": .., "ParameterValue": ..}]
        data = _from_list(data, path)
    if not isinstance(data, dict) or not all(isinstance(k, str) and k for k in data):
        raise _refuse(f"parameters file {path} must be a JSON object of NAME: value")
    _refuse_unknown(data, path)
    values = {name: _string(name, value, path) for name, value in data.items()}
    check(values, path)
    return values


def _from_list(items: list, path: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for number, item in enumerate(items, start=1):
        name = item.get("ParameterKey") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise _refuse(f"parameters file {path}: item {number} has no ParameterKey")
        if "ParameterValue" not in item:  # UsePreviousValue: leaving the item out does that
            raise _refuse(
                f"parameter {name} in {path} has no ParameterValue (leave the item out to keep "
                "the stack's value)"
            )
        if name in found:
            raise _refuse(f"parameter {name} is in {path} twice")
        found[name] = item["ParameterValue"]
    return found


def _refuse_unknown(data: dict[str, Any], path: Path) -> None:
    """A name the root template lacks would be dropped, and what it meant lost without a word."""
    known = package.template_parameters(package.ROOT_TEMPLATE)
    for name in data:
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3)
        hint = (
            f"did you mean {' or '.join(close)}?"
            if close
            else "see cloudformation/parameters.example.json"
        )
        raise _refuse(
            f"parameter {name} in {path}: {package.ROOT_TEMPLATE.name} has no parameter {name}; "
            f"{hint}"
        )


# CloudFormation takes every value as a string (Parameter.ParameterValue); a JSON integer has one
# string form, so it is taken too, but true, null, 2.0 or a list would have theirs guessed.
def _string(name: str, value: Any, path: Path) -> str:
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    if isinstance(value, bool) or value is None:
        example = "" if value is None else str(value).lower()
        kind = "null" if value is None else f"{json.dumps(value)} (a JSON boolean)"
        raise _refuse(f'parameter {name} in {path} is {kind}: write it in quotes, e.g. "{example}"')
    kind = {float: "a decimal number", list: "a list", dict: "an object"}.get(
        type(value), "no string"
    )
    raise _refuse(
        f"parameter {name} in {path} is {kind}: CloudFormation takes a string (in quotes) or a "
        "whole number"
    )


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
