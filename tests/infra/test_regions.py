"""The one list of supported regions and partitions (root.yaml's Mappings), checked against AWS's
own data: botocore's partition table and the CloudFormation resource schemas cfn-lint ships per
region; what follows from it (console links, ECR domains) and the one stack-name limit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cfnlint
import pytest
import yaml
from botocore.loaders import create_loader
from release_tool import cli

from .conftest import (
    ALL_TEMPLATES,
    REPO_ROOT,
    load,
    monitoring_params,
    render,
    root_params,
    service_params,
)

ROOT = load("root.yaml")
PARTITIONS = ROOT["Mappings"]["Partitions"]
SUPPORTED_REGIONS = ROOT["Mappings"]["SupportedRegions"]
# botocore's bundled partition table: every partition with its regions and DNS suffix.
BOTOCORE_PARTITIONS = {
    p["partition"]: p for p in create_loader().load_data("endpoints")["partitions"]
}
SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"


def partition_of(region: str) -> str:
    (partition,) = [name for name, p in BOTOCORE_PARTITIONS.items() if region in p["regions"]]
    return partition


def regions_with_every_resource_type() -> set[str]:
    """Regions where CloudFormation knows every resource type the templates use (cfn-lint's
    per-region provider schemas)."""
    used = {r["Type"] for name in ALL_TEMPLATES for r in load(name)["Resources"].values()}
    found = set()
    for provider in (SCHEMAS / "providers").glob("*.json"):
        if used <= set(json.loads(provider.read_text())):
            found.add(provider.stem)
    return found


def test_every_supported_region_is_a_region_of_a_supported_partition():
    for region in SUPPORTED_REGIONS:
        assert partition_of(region) in PARTITIONS, region


def test_every_region_that_can_run_the_stack_is_listed_except_the_isolated_partitions():
    # The ISO partitions publish no Elastic Load Balancing log accounts and cannot reach GitHub's
    # OIDC issuer, so they stay out; every other region with all our resource types is in the list.
    runnable = {
        region
        for region in regions_with_every_resource_type()
        if any(
            region in p["regions"] for name, p in BOTOCORE_PARTITIONS.items() if name in PARTITIONS
        )
    }
    assert runnable - set(SUPPORTED_REGIONS) == set(), "add these to root.yaml SupportedRegions"


def test_every_supported_partition_has_a_supported_region():
    assert {partition_of(region) for region in SUPPORTED_REGIONS} == set(PARTITIONS)


def test_console_hosts_are_each_partitions_own():
    # AWS General Reference "AWS Management Console endpoints"; China: console.amazonaws.cn;
    # GovCloud: console.amazonaws-us-gov.com; European Sovereign Cloud: its endpoints reference
    # (docs.aws.eu) names <region>.console.amazonaws-eusc.eu.
    assert {name: p["ConsoleHost"] for name, p in PARTITIONS.items()} == {
        "aws": "console.aws.amazon.com",
        "aws-cn": "console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
        "aws-eusc": "console.amazonaws-eusc.eu",
    }


def test_the_root_gives_the_dashboard_link_its_partitions_console():
    stack = render("root.yaml", root_params(ImageTag="abc1234"))
    console = stack["Resources"]["Monitoring"]["Properties"]["Parameters"]["ConsoleHost"]
    # cloud-radar renders AWS::Partition as "aws" in every region.
    assert console == PARTITIONS["aws"]["ConsoleHost"]
    render("monitoring.yaml", monitoring_params(ConsoleHost=console))


@pytest.mark.parametrize("partition", sorted(PARTITIONS))
def test_the_service_accepts_the_ecr_domain_of_every_supported_partition(partition):
    region = next(r for r in SUPPORTED_REGIONS if partition_of(r) == partition)
    suffix = BOTOCORE_PARTITIONS[partition]["dnsSuffix"]
    uri = f"123456789012.dkr.ecr.{region}.{suffix}/predict-registry-1abc"
    stack = render("service.yaml", service_params(RepositoryUri=uri))
    (app,) = stack["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert app["Image"].startswith(f"{uri}:")


def stack_name_patterns() -> dict[str, str]:
    return {
        name: load(name)["Parameters"]["RootStackName"]["AllowedPattern"]
        for name in [*ALL_TEMPLATES, "delivery.yaml"]  # delivery.yaml is nested in service.yaml
        if "RootStackName" in load(name).get("Parameters", {})
    }


def test_one_stack_name_limit_fits_the_longest_name_derived_from_it():
    patterns = stack_name_patterns()
    assert len(set(patterns.values())) == 1, patterns
    (pattern,) = set(patterns.values())
    longest = int(re.search(r"\{0,(\d+)\}\$$", pattern).group(1)) + 1
    # The web ACL is named RootStackName-edge; WAF's own limit, from its resource schema, holds.
    provider = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    schema = json.loads(
        (SCHEMAS / "resources" / f"{provider['AWS::WAFv2::WebACL']}.json").read_text()
    )
    web_acl_limit = int(
        re.search(r"\{1,(\d+)\}", schema["definitions"]["EntityName"]["pattern"])[1]
    )
    assert longest + len("-edge") <= web_acl_limit
    # The infrastructure deploy also creates the stack <RootStackName>-bootstrap: CloudFormation's
    # limit, as botocore's CreateStack documentation states it, binds.
    shapes = create_loader().load_service_model("cloudformation", "service-2")["shapes"]
    stated = shapes["CreateStackInput"]["members"]["StackName"]["documentation"]
    stack_name_limit = int(re.search(r"longer than (\d+) characters", stated)[1])
    assert longest + len("-bootstrap") == stack_name_limit
    # The deploy commands refuse what the templates refuse, before any AWS call.
    assert cli.parse(["--stack", "a" * longest]).stack == "a" * longest
    for command in ([], ["infra"]):
        with pytest.raises(SystemExit, match="2"):
            cli.parse([*command, "--stack", "a" * (longest + 1)])


def test_cfn_lint_checks_a_region_of_every_supported_partition():
    config = yaml.safe_load((REPO_ROOT / ".cfnlintrc.yaml").read_text())
    linted = set(config["regions"])
    assert linted <= set(SUPPORTED_REGIONS)
    assert {partition_of(region) for region in linted} == set(PARTITIONS)
