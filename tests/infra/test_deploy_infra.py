"""scripts/deploy-infra.sh as a user runs it: --help, one-line errors for bad input (before any AWS
call), and against moto_server the artifacts bucket, the package step and the deploy command, which
leaves ImageTag to CloudFormation's previous value so an infra deploy never reverts a release."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from cfnlint.decode import cfn_yaml

from tests.conftest import local_aws_environment, reset_moto

from .conftest import CFN_DIR, REPO_ROOT, load

SCRIPT = REPO_ROOT / "scripts" / "deploy-infra.sh"
EXAMPLE = CFN_DIR / "parameters.example.json"
BUCKET = "predict-api-artifacts-123456789012-us-east-1"  # moto's account id


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {})}
    env.pop("AWS_PROFILE", None)  # moto's dummy keys, never a profile
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
    for option in (
        "--parameters",
        "--stack-name",
        "--region",
        "--artifacts-bucket",
        "--image-tag",
        "--dry-run",
        "--package-only",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        ([], "--parameters FILE is required"),
        (["--parameters", "/nonexistent.json"], "does not exist"),
        (["--parameters", str(EXAMPLE), "--image-tag", "LATEST"], "is not a full git SHA"),
        # Images are pushed under the full SHA only: a short one must resolve in this repository.
        (["--parameters", str(EXAMPLE), "--image-tag", "0000000"], "'0000000' is not a full git"),
        (["--parameters", str(EXAMPLE), "--image-tag", "a" * 41], "is not a full git SHA"),
        (["--parameters", str(EXAMPLE), "--image-tag", "A" * 40], "is not a full git SHA"),
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
        ('{"DesiredCount": "4", "MaxCount": "3"}', "MaxCount 3 is below DesiredCount 4"),
        ('{"DesiredCount": 8, "MaxCount": 6}', "MaxCount 6 is below DesiredCount 8"),
        # One without the other: the omitted one keeps the stack's previous value, unknown here.
        ('{"DesiredCount": "3"}', "set DesiredCount and MaxCount together"),
        ('{"MaxCount": 1}', "set DesiredCount and MaxCount together"),
        ('[{"ParameterKey": "DesiredCount", "ParameterValue": "3"}]', "only DesiredCount"),
    ],
)
def test_bad_parameters_file_fails_with_one_clear_line(content, message, tmp_path):
    params = tmp_path / "params.json"
    params.write_text(content)
    result = run("--parameters", str(params), env={"AWS_ENDPOINT_URL": "http://localhost:9"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr


@pytest.mark.parametrize(
    "content",
    [
        '{"GitHubRepository": "octo-org/predict-api"}',  # neither: the stack's pair is kept
        '{"DesiredCount": 3, "MaxCount": 3}',
        '{"DesiredCount": "8", "MaxCount": "10"}',  # above root.yaml's default MaxCount: fine
    ],
)
def test_consistent_or_omitted_counts_pass_validation(content, tmp_path):
    params = tmp_path / "params.json"
    params.write_text(content)
    # Validation passed when the script gets as far as its first AWS call (nobody listens on :9).
    env = {"AWS_ENDPOINT_URL": "http://localhost:9", "AWS_REGION": "us-east-1"}
    result = run("--parameters", str(params), env={**env, "AWS_MAX_ATTEMPTS": "1"})
    assert result.returncode == 2
    assert "cannot reach AWS" in result.stderr, result.stderr


def test_short_image_tag_is_resolved_to_the_full_commit_sha():
    full = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {"AWS_ENDPOINT_URL": "http://localhost:9", "AWS_REGION": "us-east-1"}
    result = run("--parameters", str(EXAMPLE), "--image-tag", full[:9], env=env)
    assert f"deploy-infra: --image-tag {full[:9]} is commit {full}" in result.stdout
    # Validation passed: the script got as far as its first AWS call (nobody listens on :9).
    assert "cannot reach AWS" in result.stderr, result.stderr


def test_root_count_defaults_are_consistent():
    # A new stack deployed from a file without either count gets these, unchecked by the script.
    parameters = load("root.yaml")["Parameters"]
    assert parameters["MaxCount"]["Default"] >= parameters["DesiredCount"]["Default"]


DEPLOYED_TAG = "abc1234"


@pytest.fixture(scope="module")
def moto_run(moto_endpoint, tmp_path_factory):
    """One moto, one run of the script (~8 AWS CLI processes, the slow part) for every test below.

    A stand-in root stack is deployed first: moto cannot run the nested stacks, and only the root's
    parameters matter here, so the stand-in declares exactly those and one trivial resource.
    """
    reset_moto(moto_endpoint)
    tmp = tmp_path_factory.mktemp("deploy-infra")
    env = local_aws_environment(moto_endpoint, tmp)
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=env["AWS_REGION"],
    )
    clients = {
        name: session.client(name, endpoint_url=moto_endpoint) for name in ("s3", "cloudformation")
    }
    stand_in = tmp / "stand-in-root.json"
    stand_in.write_text(
        json.dumps(
            {
                "Parameters": load("root.yaml")["Parameters"],
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            }
        )
    )
    example = json.loads(EXAMPLE.read_text())
    clients["cloudformation"].create_stack(
        StackName="predict-api",
        TemplateBody=stand_in.read_text(),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in {
                **example,
                "GitHubRepository": "octo-org/old-name",
                "ArtifactsBucketName": BUCKET,
                "ImageTag": DEPLOYED_TAG,
            }.items()
        ],
    )
    result = run("--parameters", str(EXAMPLE), "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    return SimpleNamespace(result=result, env=env, stand_in=stand_in, **clients)


def _deploy_command(stdout: str) -> list[str]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("deploy-infra: would run: ")]
    return shlex.split(line.removeprefix("deploy-infra: would run: "))


def _overrides(command: list[str]) -> list[str]:
    return command[command.index("--parameter-overrides") + 1 :]


@pytest.mark.slow
def test_artifacts_bucket_is_versioned_encrypted_and_private(moto_run):
    s3 = moto_run.s3
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4


@pytest.mark.slow
def test_package_uploads_every_child_quietly(moto_run):
    packaged = cfn_yaml.load(str(REPO_ROOT / "build/packaged/cloudformation/root.yaml"))
    urls = [
        resource["Properties"]["TemplateURL"]
        for resource in packaged["Resources"].values()
        if resource["Type"] == "AWS::CloudFormation::Stack"
    ]
    children = {
        r["Properties"]["TemplateURL"]
        for r in load("root.yaml")["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::Stack"
    }
    assert len(urls) == len(children) == 6
    for url in urls:  # https://s3.../BUCKET/predict-api/HASH.template
        moto_run.s3.head_object(Bucket=BUCKET, Key=url.split(f"/{BUCKET}/", 1)[1])
    assert "Uploading to" not in moto_run.result.stdout + moto_run.result.stderr


@pytest.mark.slow
def test_deploy_command_sets_the_file_and_bucket_but_never_image_tag(moto_run):
    command = _deploy_command(moto_run.result.stdout)
    overrides = _overrides(command)
    assert f"ArtifactsBucketName={BUCKET}" in overrides
    assert "GitHubRepository=octo-org/predict-api" in overrides
    assert not [o for o in overrides if o.startswith("ImageTag=")]
    assert command[command.index("--capabilities") + 1 : command.index("--capabilities") + 4] == [
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
    ]
    assert "ImageTag unchanged" in moto_run.result.stdout


def _run_deploy(moto_run, stack_name: str) -> None:
    """Run the printed `aws cloudformation deploy` with the stand-in for the packaged root."""
    command = _deploy_command(moto_run.result.stdout)
    command[command.index("--template-file") + 1] = str(moto_run.stand_in)
    command[command.index("--stack-name") + 1] = stack_name
    command[0] = str(REPO_ROOT / command[0])  # .venv/bin/aws, relative to the repository
    deployed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in {**os.environ, **moto_run.env}.items() if k != "AWS_PROFILE"},
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr


@pytest.mark.slow
def test_infra_deploy_keeps_the_deployed_image_tag_and_applies_the_file(moto_run):
    # `deploy` sends UsePreviousValue for ImageTag: the tag deployed when the change set runs stays,
    # even if a release finished after the script started.
    _run_deploy(moto_run, "predict-api")
    (stack,) = moto_run.cloudformation.describe_stacks(StackName="predict-api")["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["ImageTag"] == DEPLOYED_TAG
    assert parameters["GitHubRepository"] == "octo-org/predict-api"  # the file's change applied


@pytest.mark.slow
def test_first_infra_deploy_creates_the_stack_without_an_image(moto_run):
    _run_deploy(moto_run, "predict-api-new")
    (stack,) = moto_run.cloudformation.describe_stacks(StackName="predict-api-new")["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["ImageTag"] == ""  # root.yaml's default: no service until the first release


@pytest.fixture
def fresh_moto(moto_endpoint, tmp_path):
    """An empty moto account (after the module's run above): a new stack, nothing deployed."""
    reset_moto(moto_endpoint)
    env = local_aws_environment(moto_endpoint, tmp_path)
    session = boto3.Session(
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    clients = {
        n: session.client(n, endpoint_url=moto_endpoint)
        for n in ("s3", "cloudformation", "ecr", "iam")
    }
    return SimpleNamespace(env=env, **clients)


def test_an_image_tag_with_no_repository_yet_exits_6_before_anything_is_made(fresh_moto):
    result = run("--parameters", str(EXAMPLE), "--image-tag", "a" * 40, env=fresh_moto.env)
    assert result.returncode == 6
    # The last line is the error (the example parameters also draw the no-certificate warning).
    assert result.stderr.splitlines()[-1:] == [
        f"deploy-infra: image tag {'a' * 40} cannot be in ECR yet: stack predict-api has no "
        "repository; deploy without --image-tag first, then release (README, Deploy to your "
        "account)"
    ]
    assert fresh_moto.s3.list_buckets()["Buckets"] == []  # not even the artifacts bucket


def test_an_image_tag_missing_from_the_repository_exits_6(fresh_moto, tmp_path):
    fresh_moto.ecr.create_repository(repositoryName="shared-images")
    params = tmp_path / "params.json"
    params.write_text(
        json.dumps({**json.loads(EXAMPLE.read_text()), "ImageRepositoryName": "shared-images"})
    )
    result = run("--parameters", str(params), "--image-tag", "b" * 40, env=fresh_moto.env)
    assert result.returncode == 6
    assert result.stderr.splitlines()[-1:] == [
        f"deploy-infra: image tag {'b' * 40} is not in ECR repository shared-images; push it "
        "first (scripts/release.sh builds and pushes)"
    ]


@pytest.mark.slow
def test_an_existing_oidc_provider_is_reused_and_dry_run_shows_what_would_change(fresh_moto):
    provider = fresh_moto.iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"]
    )["OpenIDConnectProviderArn"]
    result = run("--parameters", str(EXAMPLE), "--dry-run", env=fresh_moto.env)
    assert result.returncode == 0, result.stderr
    assert (
        f"deploy-infra: the account already has the GitHub OIDC provider {provider}: passing "
        "ExistingOidcProviderArn to reuse it"
    ) in result.stdout
    overrides = _overrides(_deploy_command(result.stdout))
    assert [o for o in overrides if o.startswith("ExistingOidcProviderArn=")] == [
        f"ExistingOidcProviderArn={provider}"
    ]
    table = result.stdout.split("deploy-infra: dry run: what would change")[1]
    for child in ("Network", "Registry", "GitHubOidc", "Service", "Monitoring"):
        assert re.search(rf"\|\s*Add\s*\|\s*{child}\s*\|\s*AWS::CloudFormation::Stack", table)
    # Nothing left behind: the change set and the new stack's empty shell are deleted.
    stacks = fresh_moto.cloudformation.list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks] == ["DELETE_COMPLETE"]
