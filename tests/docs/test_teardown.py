"""README "Tear down" removes everything a deploy leaves behind: each resource a template keeps
(DeletionPolicy Retain), the load balancer's deletion protection (turned off before the stack is
deleted), what ECS creates outside the stacks. Read from the templates,
so a new retained resource fails here until the README says how to remove it."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((REPO_ROOT / "cloudformation").glob("*.yaml"))
VENV_BIN = Path(sys.executable).parent

KEEPING_POLICIES = {"Retain", "RetainExceptOnCreate"}
# The command that removes each kind of kept resource by hand (with its contents: --force).
REMOVAL = {
    "AWS::ECR::Repository": "aws ecr delete-repository --force",
    "AWS::S3::Bucket": "aws s3 rb",
    "AWS::Logs::LogGroup": "aws logs delete-log-group",
    "AWS::IAM::OIDCProvider": "aws iam delete-open-id-connect-provider",
    "AWS::KMS::Key": "aws kms schedule-key-deletion",
}
# `aws s3 rb --force` deletes current objects only; a versioned bucket keeps its old versions
# and delete markers, and S3 refuses to delete a bucket holding any
# (S3 User Guide: "Deleting a bucket").
EVERY_VERSION = "object_versions.delete()"
DELETE_STACK = "aws cloudformation delete-stack"


def tear_down() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("## Tear down\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else len(readme)]


@cache
def resources() -> list[tuple[str, str, dict]]:
    found = []
    for template in TEMPLATES:
        decoded, errors = decode_str(template.read_text())
        assert not errors, errors
        for name, resource in decoded.get("Resources", {}).items():
            found.append((template.name, name, resource))
    return found


def kept() -> list[tuple[str, str, dict]]:
    return [
        (template, name, resource)
        for template, name, resource in resources()
        if resource.get("DeletionPolicy") in KEEPING_POLICIES
    ]


def is_versioned(bucket: dict) -> bool:
    versioning = bucket.get("Properties", {}).get("VersioningConfiguration", {})
    return versioning.get("Status") == "Enabled"


def test_the_templates_keep_something():
    """Guards the test below against reading nothing."""
    assert {resource["Type"] for _, _, resource in kept()} >= {
        "AWS::ECR::Repository",
        "AWS::S3::Bucket",
    }


@pytest.mark.parametrize(
    ("template", "name", "resource"), kept(), ids=[f"{t}:{n}" for t, n, _ in kept()]
)
def test_each_kept_resource_is_removed_by_the_tear_down(template, name, resource):
    section = tear_down()
    kind = resource["Type"]
    assert kind in REMOVAL, f"{template} keeps {name} ({kind}): add its removal to README and here"
    assert REMOVAL[kind] in section, f"README's tear-down does not remove {template}'s {name}"
    assert template in section, f"README's tear-down does not name {template}, which keeps {name}"
    if kind == "AWS::S3::Bucket" and is_versioned(resource):
        assert EVERY_VERSION in section, f"{name} is versioned: its old versions must go first"


def test_deletion_protection_is_turned_off_before_the_stack_is_deleted():
    protected = [
        name
        for _, name, resource in resources()
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
        and any(
            attribute.get("Key") == "deletion_protection.enabled"
            for attribute in resource.get("Properties", {}).get("LoadBalancerAttributes", [])
        )
    ]
    assert protected, "no load balancer with deletion protection: update this test"
    section = tear_down()
    turn_off = section.find("Key=deletion_protection.enabled,Value=false")
    assert turn_off != -1, "README's tear-down leaves deletion protection on"
    assert turn_off < section.index(DELETE_STACK)


def test_container_insights_log_group_is_removed():
    """ECS creates /aws/ecs/containerinsights/<cluster>/performance itself when Container Insights
    is on (CloudWatch User Guide, "Container Insights performance log events for Amazon ECS"): no
    stack owns it, so deleting the stack leaves it."""
    insights = [
        name
        for _, name, resource in resources()
        if resource["Type"] == "AWS::ECS::Cluster"
        and {"Name": "containerInsights", "Value": "enabled"}
        in resource.get("Properties", {}).get("ClusterSettings", [])
    ]
    assert insights, "no cluster with Container Insights: update this test"
    section = tear_down()
    assert re.search(r"aws logs delete-log-group .*/aws/ecs/containerinsights/", section)


def test_a_kept_versioned_bucket_is_emptied_of_every_version_and_its_stack_deleted():
    versioned = [
        (template, name)
        for template, name, resource in kept()
        if resource["Type"] == "AWS::S3::Bucket" and is_versioned(resource)
    ]
    assert versioned, "no kept versioned bucket: update this test"
    section = tear_down()
    for template, _ in versioned:
        assert f"`{template}`" in section
    assert EVERY_VERSION in section
    assert section.index(EVERY_VERSION) < section.rindex(DELETE_STACK)


def test_the_tear_down_commands_pass_shellcheck(tmp_path):
    blocks = re.findall(r"^ *```bash\n(.*?)^ *```", tear_down(), re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 4, "the tear-down's steps are bash blocks"
    script = tmp_path / "tear-down.sh"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + "\n".join(blocks))
    result = subprocess.run(
        [str(VENV_BIN / "shellcheck"), str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_the_names_the_tear_down_reads_exist_in_the_templates():
    section = tear_down()
    root, _ = decode_str((REPO_ROOT / "cloudformation/root.yaml").read_text())
    outputs = re.findall(r"\$\(out (\w+)\)", section)
    logical_ids = re.findall(r"--logical-resource-id (\w+)", section)
    assert outputs and logical_ids, "the tear-down reads the stack's outputs and resources"
    assert set(outputs) <= set(root["Outputs"])
    assert set(logical_ids) <= {name for _, name, _ in resources()}
