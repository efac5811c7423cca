"""Which region the AWS calls go to, checked before any call: an unknown region has no endpoint,
and botocore would retry its unresolvable host name for seconds before failing."""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore
from botocore.loaders import create_loader

from release_tool.errors import ExitCode, ReleaseError

NO_REGION = "no AWS region: pass --region or set AWS_REGION (or a region in your AWS profile)"


@cache
def _partitions() -> list[dict]:
    """botocore's bundled endpoint data: every partition (aws, aws-cn, aws-us-gov, the isolated
    and sovereign ones) with its regions."""
    return create_loader().load_data("endpoints")["partitions"]


def known_regions() -> frozenset[str]:
    return frozenset(region for p in _partitions() for region in p.get("regions", {}))


def dns_suffix(region: str) -> str:
    """amazonaws.com, amazonaws.com.cn...: the domain of the region's endpoints."""
    found = (p["dnsSuffix"] for p in _partitions() if region in p.get("regions", {}))
    return next(found, "amazonaws.com")


def partition_of(region: str) -> str:
    """aws, aws-cn, aws-us-gov...: the first field of every ARN in that region."""
    found = (p["partition"] for p in _partitions() if region in p.get("regions", {}))
    return next(found, "aws")


def resolve(session: Any, given: str | None) -> str:
    """The region the calls will use: --region, else AWS_REGION / AWS_DEFAULT_REGION / the
    profile (botocore's order); exit 3 when there is none, exit 2 when it is unknown."""
    region = given or session.region_name
    if not region:
        raise ReleaseError(ExitCode.PREREQUISITE, NO_REGION)
    if region not in known_regions():
        raise ReleaseError(
            ExitCode.USAGE,
            f"unknown AWS region {region!r} (from --region, AWS_REGION, AWS_DEFAULT_REGION or your"
            f" profile): not in the partition data of botocore {botocore.__version__}; a region "
            "launched since needs a newer boto3",
        )
    return region
