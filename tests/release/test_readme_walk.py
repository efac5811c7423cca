"""README "Deploy to your account", steps 1-3, walked literally as a new user would: a fresh copy of
this work tree, the shell blocks taken from the README itself (so the test changes when the README
does), against a local moto_server instead of an AWS account; once as the example file is, once
with the recommended DomainName and HostedZoneId (a public zone made in moto first).

Where moto falls short: it cannot run the nested stacks, so cloudformation/root.yaml is replaced
in the copy by a one-template stand-in with root.yaml's own parameters and mappings and the
contract's outputs; and a stack it creates through a change set has no Outputs and its stack
update does not roll the ECS service, so a sitecustomize plays
CloudFormation's part inside the Python processes (stand_in.py; the boto3 boundary)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import cfn_yaml

from tests.release.conftest import hosted_zone
from tests.release.stand_in import BASH, FAKE_PODMAN, STACK

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL)


def stand_in_root(health_url: str) -> str:
    """root.yaml's parameters (so the example file deploys as is) and mappings (the supported
    regions), the registry and service as single resources, the outputs a release reads."""
    root = cfn_yaml.load(str(REPO_ROOT / "cloudformation/root.yaml"))
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": root["Parameters"],
        "Mappings": root["Mappings"],
        "Conditions": {"HasDomain": {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}},
        "Resources": {
            # The service stack's alias record, as far as moto goes (it has no ACM resource):
            # proves DomainName and HostedZoneId reach the stack's resources.
            "DomainRecord": {
                "Type": "AWS::Route53::RecordSet",
                "Condition": "HasDomain",
                "Properties": {
                    "HostedZoneId": {"Ref": "HostedZoneId"},
                    "Name": {"Ref": "DomainName"},
                    "Type": "A",
                    "TTL": "60",
                    "ResourceRecords": ["127.0.0.1"],
                },
            },
            "Repository": {
                "Type": "AWS::ECR::Repository",
                "Properties": {"RepositoryName": "predict-api"},
            },
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "predict-api"}},
            "TaskDefinition": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "predict-api",
                    "ContainerDefinitions": [
                        {
                            "Name": "app",
                            "Memory": 512,
                            "Image": {
                                "Fn::Join": [
                                    ":",
                                    [
                                        {"Fn::GetAtt": ["Repository", "RepositoryUri"]},
                                        {"Ref": "ImageTag"},
                                    ],
                                ]
                            },
                        }
                    ],
                },
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "Cluster": {"Ref": "Cluster"},
                    "ServiceName": "predict-api",
                    "TaskDefinition": {"Ref": "TaskDefinition"},
                    "DesiredCount": 2,
                },
            },
        },
        "Outputs": {
            "RepositoryUri": {"Value": {"Fn::GetAtt": ["Repository", "RepositoryUri"]}},
            "RepositoryName": {"Value": {"Ref": "Repository"}},
            "ClusterName": {"Value": {"Ref": "Cluster"}},
            "ServiceName": {"Value": {"Fn::GetAtt": ["Service", "Name"]}},
            "ServiceUrl": {"Value": health_url},
        },
    }
    return json.dumps(template, indent=1)


SITECUSTOMIZE = """\
# Plays CloudFormation's part that moto skips (see the test module's docstring).
import json
import os

import boto3.session
from tests.release.stand_in import fill_outputs_moto_leaves_null, play_cloudformation_for_ecs

_init = boto3.session.Session.__init__


def _init_and_play(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    fill_outputs_moto_leaves_null(self, json.loads(os.environ["STAND_IN_OUTPUTS"]))
    play_cloudformation_for_ecs(self)


boto3.session.Session.__init__ = _init_and_play
"""


def fresh_copy(destination: Path) -> None:
    """What a clone of this work tree holds: tracked and untracked-but-not-ignored files."""
    listed = (
        subprocess.run(
            [
                "git",
                "-C",
                str(REPO_ROOT),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize("domain", [None, "api.example.com"], ids=["plain-http", "domain"])
def test_deploy_to_your_account_steps_1_to_3_as_written(aws_env, health_server, tmp_path, domain):
    clone = tmp_path / "predict-api"
    fresh_copy(clone)
    (clone / "cloudformation/root.yaml").write_text(stand_in_root(health_server.url))
    git(clone, "init", "-q")
    git(clone, "add", ".")
    git(clone, "commit", "-qm", "fresh clone (root.yaml: moto stand-in)")

    bin_dir = tmp_path / "bin"  # podman stands in for the builder; its push lands in moto
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(
        FAKE_PODMAN.format(
            bash=BASH, log=tmp_path / "podman.log", root=REPO_ROOT, python=sys.executable
        )
    )
    (bin_dir / "podman").chmod(0o755)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)

    steps = section(README.read_text(), "## Deploy to your account", "### The public edge")
    script = "set -euo pipefail\n" + "\n".join(shell_blocks(steps))
    # The one thing the README leaves to the user's hands: their own repository in the file.
    edit = "# edit GitHubRepository"
    assert edit in script
    by_hand = "sed -i 's|octo-org/predict-api|my-org/predict-api|' cloudformation/parameters.json\n"
    if domain:  # the recommended edit, as the README asks: a name in the account's public zone
        assert "DomainName and HostedZoneId" in script
        zone = hosted_zone("example.com")
        by_hand += (
            f'sed -i -e \'s|"DomainName": ""|"DomainName": "{domain}"|\' '
            f'-e \'s|"HostedZoneId": ""|"HostedZoneId": "{zone}"|\' '
            "cloudformation/parameters.json\n"
        )
    script = script.replace(edit, by_hand + edit)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
    env |= {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": f"{hooks}:{REPO_ROOT}",
        "AWS_ENDPOINT_URL": aws_env,  # the only AWS difference from a real account
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_MAX_ATTEMPTS": "1",
        "RELEASE_POLL_SECONDS": "0",
        "STAND_IN_OUTPUTS": json.dumps(
            {
                "RepositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/predict-api",
                "RepositoryName": "predict-api",
                "ClusterName": "predict-api",
                "ServiceName": "predict-api",
                "ServiceUrl": health_server.url,
            }
        ),
    }
    env.pop("CONTAINER_BUILDER", None)
    result = subprocess.run(
        [BASH, "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    sha = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert f"==> released {sha} to stack {STACK}" in result.stdout
    assert health_server.hits == ["/health"]
    found = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}["ImageTag"] == sha
    assert "Uploading to" not in result.stdout + result.stderr  # no upload progress noise
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}
    assert parameters["GitHubRepository"] == "my-org/predict-api"
    # Off through the first create, on once the release saw the service healthy.
    assert parameters["DeletionProtection"] == "true"
    assert "deletion protection on" in result.stdout
    roles = boto3.client("iam").list_roles(PathPrefix="/aws-service-role/ecs.amazonaws.com/")
    assert len(roles["Roles"]) == 1  # created before the first service
    if not domain:
        assert parameters["DomainName"] == "" and "plain HTTP" in result.stderr
        return
    # moto leaves a change set's stack without Outputs, so ServiceUrl (https://DomainName, see
    # tests/infra/test_service_template.py) cannot be read here: the parameters and the record can.
    assert parameters["DomainName"] == domain and parameters["HostedZoneId"] == zone
    assert f"DomainName {domain} is in the public hosted zone {zone}" in result.stdout
    assert "plain HTTP" not in result.stderr
    records = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone)
    assert domain in [r["Name"].rstrip(".") for r in records["ResourceRecordSets"]]  # moto: no dot
