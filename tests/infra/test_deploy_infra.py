"""scripts/deploy-infra.sh as a user runs it: --help, one-line errors for bad input (before any AWS
call), and against moto_server the artifacts bucket, the package step and the preserved ImageTag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from .conftest import CFN_DIR, REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "deploy-infra.sh"
EXAMPLE = CFN_DIR / "parameters.example.json"
BUCKET = "predict-api-artifacts-123456789012-us-east-1"  # moto's account id


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {})}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_help_documents_every_option():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--parameters", "--stack-name", "--region", "--artifacts-bucket", "--image-tag",
                   "--dry-run", "--package-only"):  # fmt: skip
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        ([], "--parameters FILE is required"),
        (["--parameters", "/nonexistent.json"], "does not exist"),
        (["--parameters", str(EXAMPLE), "--image-tag", "LATEST"], "is not a git SHA"),
        (
            ["--parameters", str(EXAMPLE), "--stack-name", "1bad_name"],
            "stack name '1bad_name' is invalid",
        ),
        (
            ["--parameters", str(EXAMPLE), "--artifacts-bucket", "Bad_Bucket"],
            "bucket name 'Bad_Bucket'",
        ),
        (["--parameters"], "--parameters needs a file"),
    ],
)
def test_bad_input_fails_with_one_clear_line(args, message, tmp_path):
    # No AWS at all: an endpoint nobody listens on proves nothing is called before validation.
    result = run(*args, env={"AWS_ENDPOINT_URL": "http://localhost:9", "AWS_REGION": "us-east-1"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("deploy-infra: ") and message in lines[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1", "is not JSON"),
        ('{"ImageTag": "abc1234"}', "ImageTag must not be in the parameters file"),
        ('{"ArtifactsBucketName": "x"}', "ArtifactsBucketName must not be in the parameters file"),
        ('"text"', "must be a JSON object"),
    ],
)
def test_bad_parameters_file_fails_with_one_clear_line(content, message, tmp_path):
    params = tmp_path / "params.json"
    params.write_text(content)
    result = run("--parameters", str(params), env={"AWS_ENDPOINT_URL": "http://localhost:9"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr


def _deployed_command(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith("deploy-infra: would run:")]
    return line


@pytest.mark.slow
def test_bucket_package_and_image_tag_from_first_deploy_to_an_infra_change(aws_env):
    # One test, two runs: each run is ~8 AWS CLI processes, the slowest part of this suite.
    first = run("--parameters", str(EXAMPLE), "--dry-run")
    assert first.returncode == 0, first.stderr
    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="predict-api/")["KeyCount"] == 5
    command = _deployed_command(first.stdout)
    assert command.endswith(" ImageTag=")  # no stack yet: no image, no service
    assert f"ArtifactsBucketName={BUCKET}" in command
    assert "CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND" in command
    assert "GitHubRepository=octo-org/predict-api" in command

    # A stand-in for the deployed root (moto cannot run nested stacks): only its parameters matter.
    boto3.client("cloudformation").create_stack(
        StackName="predict-api",
        TemplateBody=(
            "Parameters:\n  ImageTag:\n    Type: String\n"
            "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
        ),
        Parameters=[{"ParameterKey": "ImageTag", "ParameterValue": "abc1234"}],
    )
    again = run("--parameters", str(EXAMPLE), "--dry-run")
    assert again.returncode == 0, again.stderr
    assert _deployed_command(again.stdout).endswith(" ImageTag=abc1234")
