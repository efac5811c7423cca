"""The infrastructure deploy (`scripts/release.sh infra`; scripts/deploy-infra.sh hands over to
it) as a user runs it: --help, one-line errors for bad input before any AWS call, and against
moto_server what a deploy leaves in the account: the bootstrap stack's bucket, the packaged
children, the root stack with ImageTag kept, nothing left by a dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from release_tool import cli, package
from release_tool.errors import ExitCode

from .conftest import CFN_DIR, REPO_ROOT, hosted_zone, load

SCRIPT = REPO_ROOT / "scripts" / "deploy-infra.sh"
EXAMPLE = CFN_DIR / "parameters.example.json"
BUCKET = "predict-api-artifacts-123456789012-us-east-1"  # moto's account id
NOBODY = {
    "AWS_ENDPOINT_URL": "http://localhost:9",
    "AWS_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


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


def own_parameters(tmp_path: Path, **changes) -> Path:
    """The example file with the user's own repository, as README step 1 has it edited."""
    values = {**json.loads(EXAMPLE.read_text()), "GitHubRepository": "my-org/predict-api"}
    path = tmp_path / "parameters.json"
    path.write_text(json.dumps({**values, **changes}))
    return path


def error_line(stderr: str) -> str:
    """The one error line a failure prints (warnings and indented detail lines may come
    before it): exactly one, in the tool's form."""
    lines = [line for line in stderr.splitlines() if not line.startswith(("warning: ", "    "))]
    assert len(lines) == 1 and lines[0].startswith("release: error: "), stderr
    return lines[0]


def test_help_documents_every_option_and_the_permission_it_needs():
    result = run("--help")
    assert result.returncode == 0
    options = result.stdout[result.stdout.index("\noptions:") : result.stdout.index("exit codes:")]
    for option in (
        "--parameters",
        "--stack",
        "--stack-name",
        "--region",
        "--artifacts-bucket",
        "--image-tag",
        "--dry-run",
        "--package-only",
        "--timeout",
        "--allow-critical-findings",
        "--allow-unsupported-image",
    ):
        assert f" {option}" in options, option
    assert "iam:CreateServiceLinkedRole" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--parameters", "/nonexistent.json"], "does not exist"),
        (["--image-tag", "LATEST"], "invalid tag 'LATEST'"),
        # Images are pushed under the full SHA only: a short one must resolve in this repository.
        (["--image-tag", "0000000"], "'0000000' is not a full git SHA"),
        (["--image-tag", "a" * 41], "invalid tag"),
        (["--stack-name", "1bad_name"], "invalid stack name '1bad_name'"),
        (["--stack", "1bad_name"], "invalid stack name '1bad_name'"),
        (["--artifacts-bucket", "Bad_Bucket"], "invalid bucket name 'Bad_Bucket'"),
        (["--region", "nowhere-1"], "invalid region 'nowhere-1'"),
        (["--region", "us-nowhere-1"], "unknown region 'us-nowhere-1'"),
        (["--parameters"], "argument --parameters: expected one argument"),
        # An empty path is a mistake (an unset variable), not "no packaging".
        (["--package-only", ""], "argument --package-only: empty directory"),
        # Packaging deploys no image: a tag given with it would be silently ignored.
        (
            ["--package-only", "build/packaged", "--image-tag", "a" * 40],
            "--image-tag does not go with --package-only",
        ),
    ],
)
def test_bad_input_fails_at_once_with_one_clear_line(args, message, tmp_path):
    # No AWS at all: an endpoint nobody listens on proves nothing is called before validation.
    result = run("--parameters", str(own_parameters(tmp_path)), *args, env=NOBODY)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert message in error_line(result.stderr), result.stderr
    assert "cannot reach AWS" not in result.stderr


def templates_and_code() -> list[Path]:
    """What cloudformation/ holds, bytecode aside: the hook's tests may write theirs meanwhile."""
    return sorted(path for path in CFN_DIR.rglob("*") if "__pycache__" not in path.parts)


@pytest.mark.parametrize(
    ("directory", "message"),
    [
        # Inside it, the packaged template would sit among the sources it is made from.
        (
            CFN_DIR / "packaged",
            "is inside cloudformation/, the folder being packaged (the output would sit",
        ),
        # DIR/cloudformation/root.yaml would be the source template itself.
        (REPO_ROOT, "is the repository's root: the packaged cloudformation/root.yaml would"),
    ],
)
def test_package_only_into_what_it_packages_is_refused_before_anything_is_written(
    directory, message
):
    before = templates_and_code()
    result = run("--package-only", str(directory), env=NOBODY)
    assert result.returncode == ExitCode.USAGE, result.stderr
    line = error_line(result.stderr)
    assert f"argument --package-only: '{directory}' {message}" in line, line
    assert "such as build/packaged" in line, line
    assert templates_and_code() == before


def test_an_unknown_region_from_the_environment_is_refused_before_any_retry(tmp_path):
    result = run(
        "--parameters", str(own_parameters(tmp_path)), env={**NOBODY, "AWS_REGION": "xx-nowhere-9"}
    )
    assert result.returncode == ExitCode.USAGE
    assert "unknown AWS region 'xx-nowhere-9'" in error_line(result.stderr)


@pytest.mark.parametrize("given_by", ["--region", "AWS_REGION"])
def test_a_region_outside_the_supported_list_is_refused_before_any_aws_call(given_by, tmp_path):
    # botocore knows us-iso-east-1; root.yaml's SupportedRegions leaves the isolated partitions out
    # (no published load balancer log account, no route to GitHub's OIDC issuer).
    region = "us-iso-east-1"
    args = ["--region", region] if given_by == "--region" else []
    result = run(
        "--parameters", str(own_parameters(tmp_path)), *args, env={**NOBODY, "AWS_REGION": region}
    )
    assert result.returncode == ExitCode.USAGE, result.stderr
    line = error_line(result.stderr)
    assert f"region {region}" in line and "root.yaml Mappings.SupportedRegions" in line, line
    assert "us-east-1, " in line, line  # the list itself


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
        ('[{"ParameterKey": "DesiredCount", "ParameterValue": "3"}]', "only DesiredCount"),
        # The example's repository would give someone else's workflows the deploy role.
        ('{"GitHubRepository": "octo-org/predict-api"}', "GitHubRepository"),
        ('{"GitHubRepository": ""}', "GitHubRepository is empty"),
    ],
)
def test_a_bad_parameters_file_fails_before_any_aws_call(content, message, tmp_path):
    params = tmp_path / "params.json"
    params.write_text(content)
    result = run("--parameters", str(params), env=NOBODY)
    assert result.returncode == ExitCode.USAGE
    assert message in error_line(result.stderr), result.stderr


LIST_ITEM = '{{"ParameterKey": "{}", "ParameterValue": "info"}}'


@pytest.mark.parametrize(
    ("content", "key", "message"),
    [
        # A name root.yaml does not have would be dropped silently, its intent lost.
        ('{"DesiredCont": "3", "MaxCount": "6"}', "DesiredCont", "did you mean DesiredCount?"),
        (f"[{LIST_ITEM.format('LogLevl')}]", "LogLevl", "did you mean LogLevel?"),
        ('{"Colour": "blue"}', "Colour", "root.yaml has no parameter"),
        # CloudFormation takes every value as a string (Parameter.ParameterValue, a String): a
        # JSON integer has one string form; true, null, 2.0 or a list would be guessed at.
        ('{"EnableWaf": true}', "EnableWaf", 'write it in quotes, e.g. "true"'),
        ('{"AlarmEmail": null}', "AlarmEmail", 'write it in quotes, e.g. ""'),
        ('{"DesiredCount": 2.5, "MaxCount": 6}', "DesiredCount", "is a decimal number"),
        ('{"VpcCidr": ["10.0.0.0/16"]}', "VpcCidr", "is a list"),
        ('{"TaskSize": {"cpu": 512}}', "TaskSize", "is an object"),
        ('[{"ParameterKey": "LogLevel"}]', "LogLevel", "has no ParameterValue"),
        (
            '[{"ParameterKey": "LogLevel", "UsePreviousValue": true}]',
            "LogLevel",
            "has no ParameterValue",
        ),
        (
            '[{"ParameterKey": "LogLevel", "ParameterValue": 1.5}]',
            "LogLevel",
            "is a decimal number",
        ),
        ('[{"ParameterValue": "info"}]', "item 1", "has no ParameterKey"),
        (f"[{LIST_ITEM.format('LogLevel')}, {LIST_ITEM.format('LogLevel')}]", "LogLevel", "twice"),
        ('{"LogLevel": "info", "LogLevel": "debug"}', "LogLevel", "twice"),
    ],
)
def test_a_parameters_file_naming_what_root_yaml_lacks_or_a_value_that_is_no_string_is_refused(
    content, key, message, tmp_path
):
    params = tmp_path / "params.json"
    params.write_text(content)
    result = run("--parameters", str(params), env=NOBODY)
    assert result.returncode == ExitCode.USAGE, result.stderr
    line = error_line(result.stderr)
    assert str(params) in line and key in line and message in line, line


def test_the_example_file_as_it_is_is_refused_naming_github_repository():
    result = run("--parameters", str(EXAMPLE), env=NOBODY)
    assert result.returncode == ExitCode.USAGE
    line = error_line(result.stderr)
    assert "GitHubRepository" in line and "octo-org/predict-api" in line, line


@pytest.mark.parametrize(
    "counts", [{"DesiredCount": 3, "MaxCount": 3}, {"DesiredCount": "8", "MaxCount": "10"}]
)
def test_consistent_counts_pass_and_unreachable_aws_is_exit_3_as_in_the_release(counts, tmp_path):
    result = run("--parameters", str(own_parameters(tmp_path, **counts)), env=NOBODY)
    assert result.returncode == ExitCode.PREREQUISITE == 3, result.stderr
    assert "cannot reach AWS" in error_line(result.stderr)


def test_short_image_tag_is_resolved_to_the_full_commit_sha(tmp_path):
    full = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result = run("--parameters", str(own_parameters(tmp_path)), "--image-tag", full[:9], env=NOBODY)
    assert f"--image-tag {full[:9]} is commit {full}" in result.stdout
    assert "cannot reach AWS" in error_line(result.stderr)


def test_root_count_defaults_are_consistent():
    # A new stack deployed from a file without either count gets these, unchecked by the tool.
    parameters = load("root.yaml")["Parameters"]
    assert parameters["MaxCount"]["Default"] >= parameters["DesiredCount"]["Default"]


def test_the_bootstrap_bucket_is_versioned_encrypted_private_and_tls_only():
    bucket = load("bootstrap.yaml")["Resources"]["ArtifactsBucket"]
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert bucket["DeletionPolicy"] == "Retain"  # rollbacks re-read templates from it
    (statement,) = load("bootstrap.yaml")["Resources"]["ArtifactsBucketPolicy"]["Properties"][
        "PolicyDocument"
    ]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def clients(*names):
    return [boto3.client(name) for name in names]


@pytest.mark.slow
def test_a_dry_run_on_a_fresh_account_bootstraps_packages_and_leaves_no_root_stack(
    aws_env, tmp_path, capsys
):
    (iam,) = clients("iam")
    provider = iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"]
    )["OpenIDConnectProviderArn"]
    code = cli.main(["infra", "--parameters", str(own_parameters(tmp_path)), "--dry-run"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    s3, cfn = clients("s3", "cloudformation")
    # The bucket comes from the bootstrap stack; the children were packaged into it.
    bootstrap = cfn.describe_stacks(StackName="predict-api-bootstrap")["Stacks"][0]
    assert bootstrap["StackStatus"] == "CREATE_COMPLETE"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="predict-api/")["Contents"]]
    children = [
        r
        for r in load("root.yaml")["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::Stack"
    ]
    assert len([k for k in keys if k.endswith(".template")]) >= len(children)
    assert "reuse it" in out and provider in out
    for child in ("Network", "Registry", "GitHubOidc", "Service", "Monitoring"):
        assert f"Add AWS::CloudFormation::Stack {child}" in out
    # Nothing left behind: no root stack, no change set; the service-linked role only announced.
    live = [
        s["StackName"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    assert live == ["predict-api-bootstrap"]
    assert "would create the ECS service-linked role" in out
    assert "Uploading to" not in out


@pytest.mark.slow
def test_the_change_set_covers_the_nested_stacks_and_shows_their_changes(aws_env, tmp_path, capsys):
    """moto 5.2 takes IncludeNestedStacks and ignores it (no nested change sets, no ChangeSetId in
    a change): the request is checked as sent, and the display against a change set made in moto
    that the root's answer links to Network, as CloudFormation links a nested stack's change set
    ("Change sets for nested stacks", CloudFormation User Guide; ResourceChange.ChangeSetId)."""
    (cfn,) = clients("cloudformation")
    nested = cfn.create_change_set(
        StackName="predict-api-Network-1ABC",
        ChangeSetName="nested",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps({"Resources": {"Vpc": {"Type": "AWS::SNS::Topic"}}}),
    )["Id"]
    session = boto3.session.Session()
    requests: list[dict] = []
    session.events.register(
        "provide-client-params.cloudformation.CreateChangeSet",
        lambda params, **_: requests.append(dict(params)),
    )

    def link_network(parsed, **_):
        for change in parsed.get("Changes") or []:
            resource = change.get("ResourceChange") or {}
            if parsed["ChangeSetName"].startswith("infra-") and (
                resource.get("LogicalResourceId") == "Network"
            ):
                resource["ChangeSetId"] = nested

    session.events.register("after-call.cloudformation.DescribeChangeSet", link_network)
    argv = ["infra", "--parameters", str(own_parameters(tmp_path)), "--dry-run"]
    assert cli.main(argv, session=session) == ExitCode.OK
    out = capsys.readouterr().out
    (request,) = [r for r in requests if r["StackName"] == "predict-api"]
    assert request["IncludeNestedStacks"] is True
    lines = out.splitlines()
    network = lines.index("    Add AWS::CloudFormation::Stack Network")
    assert lines[network + 1] == "      Add AWS::SNS::Topic Vpc"  # indented under its stack


STAND_IN_ROOT = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
}


@pytest.fixture
def stand_in_root(tmp_path, monkeypatch) -> Path:
    """moto cannot run the nested stacks: root.yaml's parameters and mappings (the supported
    regions) over one trivial resource."""
    root = load("root.yaml")
    path = tmp_path / "root.yaml"
    path.write_text(
        json.dumps(
            {**STAND_IN_ROOT, "Parameters": root["Parameters"], "Mappings": root["Mappings"]}
        )
    )
    monkeypatch.setattr(package, "ROOT_TEMPLATE", path)
    return path


def parameters_of(stack_name: str) -> dict:
    (cfn,) = clients("cloudformation")
    found = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {p["ParameterKey"]: p.get("ParameterValue") for p in found["Parameters"]}


@pytest.mark.slow
def test_a_first_deploy_creates_the_service_linked_role_and_the_stack_unprotected(
    aws_env, stand_in_root, tmp_path, capsys
):
    params = own_parameters(tmp_path)
    assert cli.main(["infra", "--parameters", str(params)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "CREATE_COMPLETE" in out  # stack events streamed
    (iam,) = clients("iam")
    # (moto names it AWSServiceRoleForecs; AWS, AWSServiceRoleForECS: found by its path.)
    roles = iam.list_roles(PathPrefix="/aws-service-role/ecs.amazonaws.com/")["Roles"]
    assert len(roles) == 1
    first = parameters_of("predict-api")
    assert first["ImageTag"] == "" and first["DeletionProtection"] == "false"


@pytest.mark.slow
def test_an_infra_deploy_applies_the_file_and_never_changes_the_image_tag(
    aws_env, stand_in_root, tmp_path
):
    (cfn,) = clients("cloudformation")
    cfn.create_stack(
        StackName="predict-api",
        TemplateBody=stand_in_root.read_text(),
        Parameters=[
            {"ParameterKey": "GitHubRepository", "ParameterValue": "my-org/predict-api"},
            {"ParameterKey": "ImageTag", "ParameterValue": "c" * 40},  # what a release set
            {"ParameterKey": "DeletionProtection", "ParameterValue": "true"},
            {"ParameterKey": "ArtifactsBucketName", "ParameterValue": BUCKET},
        ],
    )
    changed = own_parameters(tmp_path, GitHubBranch="release")
    assert cli.main(["infra", "--stack-name", "predict-api", "--parameters", str(changed)]) == 0
    second = parameters_of("predict-api")
    assert second["ImageTag"] == "c" * 40
    assert second["GitHubBranch"] == "release"
    assert second["DeletionProtection"] == "true"  # turned on once healthy: infra deploys keep it


def session_seeing(
    status: str, until: str, then: str | None = None, times: int = 1_000
) -> boto3.session.Session:
    """A session to which stack predict-api reports `status` until the deploy makes the call
    `until`, then `then` for `times` answers (else moto's own): moto's stacks never fail nor roll
    back, so the DescribeStacks answer plays the state (the boto3 boundary; the rest is moto's)."""
    session = boto3.session.Session()
    made: list[str] = []
    played_after = [0]

    def play(parsed, **_):
        for found in parsed.get("Stacks") or []:
            if found["StackName"] != "predict-api":
                continue
            if not made:
                found["StackStatus"] = status
            elif then and played_after[0] < times:
                played_after[0] += 1
                found["StackStatus"] = then

    session.events.register("after-call.cloudformation.DescribeStacks", play)
    session.events.register(f"before-call.cloudformation.{until}", lambda **_: made.append(until))
    return session


def refuse_to_delete(session: boto3.session.Session) -> None:
    """DeleteStack answers as AWS does, and moto keeps the stack: what a failing delete needs."""
    answer = (AWSResponse("", 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}})
    session.events.register("before-call.cloudformation.DeleteStack", lambda **_: answer)


def released_stack(template: Path, **changes: str) -> None:
    """The root stack as a release leaves it: an ImageTag, the load balancer protected."""
    values = {
        "GitHubRepository": "my-org/predict-api",
        "ImageTag": "c" * 40,
        "DeletionProtection": "true",
        "ArtifactsBucketName": BUCKET,
        **changes,
    }
    (cfn,) = clients("cloudformation")
    cfn.create_stack(
        StackName="predict-api",
        TemplateBody=template.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )


@pytest.mark.slow
def test_a_released_stack_keeps_its_protection_after_a_failed_update_rolled_back(
    aws_env, stand_in_root, tmp_path, capsys
):
    # UPDATE_ROLLBACK_COMPLETE: the last update failed, the stack runs as before it (releasable).
    released_stack(stand_in_root)
    changed = own_parameters(tmp_path, GitHubBranch="release")
    session = session_seeing("UPDATE_ROLLBACK_COMPLETE", until="CreateChangeSet")
    code = cli.main(["infra", "--parameters", str(changed)], session=session)
    assert code == ExitCode.OK, capsys.readouterr()
    deployed = parameters_of("predict-api")
    assert deployed["GitHubBranch"] == "release"
    assert deployed["DeletionProtection"] == "true"


IMAGES = "predict-images"  # an ECR repository of the account (root.yaml ImageRepositoryName)
SCANNED_TAG = "d" * 40


def pushed_image() -> None:
    """SCANNED_TAG pushed to IMAGES, a repository that does not scan on push."""
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName=IMAGES)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "d" * 64,
        },
        "layers": [],
    }
    ecr.put_image(repositoryName=IMAGES, imageManifest=json.dumps(manifest), imageTag=SCANNED_TAG)


def image_with_a_critical_finding(endpoint: str) -> None:
    """SCANNED_TAG pushed to IMAGES, its basic scan COMPLETE with one CRITICAL finding (moto's
    own way to set what DescribeImageScanFindings answers: its Moto API)."""
    pushed_image()
    boto3.client("ecr").start_image_scan(repositoryName=IMAGES, imageId={"imageTag": SCANNED_TAG})
    result = {
        "registryId": "123456789012",
        "repositoryName": IMAGES,
        "imageId": {"imageTag": SCANNED_TAG},
        "imageScanStatus": {"status": "COMPLETE", "description": "done"},
        "imageScanFindings": {
            "findingSeverityCounts": {"CRITICAL": 1},
            "findings": [{"name": "CVE-2099-0001", "severity": "CRITICAL"}],
        },
    }
    body = json.dumps({"results": [result], "region": "us-east-1"}).encode()
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/ecr/scan-finding-results", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.mark.slow
@pytest.mark.parametrize("named_in", ["file", "stack"])
def test_an_image_tag_with_critical_findings_is_refused_as_a_release_refuses_it(
    aws_env, stand_in_root, tmp_path, capsys, named_in
):
    # The repository the tasks pull from: the file's ImageRepositoryName, or the stack's own value
    # that the file leaves as it is.
    released_stack(
        stand_in_root, **({"ImageRepositoryName": IMAGES} if named_in == "stack" else {})
    )
    image_with_a_critical_finding(aws_env)
    params = own_parameters(
        tmp_path, **({"ImageRepositoryName": IMAGES} if named_in == "file" else {})
    )
    code = cli.main(["infra", "--parameters", str(params), "--image-tag", SCANNED_TAG])
    err = capsys.readouterr().err
    assert code == ExitCode.CRITICAL_FINDINGS, err
    line = error_line(err)
    assert f"image {SCANNED_TAG} has 1 CRITICAL finding(s)" in line, line
    assert "CRITICAL: CVE-2099-0001" in err
    assert parameters_of("predict-api")["ImageTag"] == "c" * 40  # nothing deployed


@pytest.mark.slow
def test_allow_critical_findings_lets_the_infra_deploy_run_that_image(
    aws_env, stand_in_root, tmp_path, capsys
):
    released_stack(stand_in_root)
    image_with_a_critical_finding(aws_env)
    params = own_parameters(tmp_path, ImageRepositoryName=IMAGES)
    argv = ["infra", "--parameters", str(params), "--image-tag", SCANNED_TAG]
    code = cli.main([*argv, "--allow-critical-findings"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert "--allow-critical-findings: deploying despite 1 CRITICAL" in out
    assert parameters_of("predict-api")["ImageTag"] == SCANNED_TAG


@pytest.mark.slow
def test_changing_the_architecture_under_a_running_service_needs_an_image_built_for_it(
    aws_env, stand_in_root, tmp_path, capsys
):
    # The service runs an image built for X86_64 (the default); ARM64 tasks could not start it.
    released_stack(stand_in_root)
    params = own_parameters(tmp_path, CpuArchitecture="ARM64", ImageRepositoryName=IMAGES)
    code = cli.main(["infra", "--parameters", str(params)])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    line = error_line(err)
    assert "CpuArchitecture X86_64 -> ARM64" in line and "exec format error" in line, line
    assert "--image-tag" in line and "linux/arm64" in line, line
    assert parameters_of("predict-api")["CpuArchitecture"] == "X86_64"
    # With the image built for ARM64 (assumed: ECR does not say what a tag was built for).
    pushed_image()
    code = cli.main(["infra", "--parameters", str(params), "--image-tag", SCANNED_TAG])
    assert code == ExitCode.OK, capsys.readouterr()
    deployed = parameters_of("predict-api")
    assert deployed["CpuArchitecture"] == "ARM64" and deployed["ImageTag"] == SCANNED_TAG


def rolled_back_creation(template: Path) -> None:
    """A stack as its failed creation leaves it (the status comes from session_seeing)."""
    (cfn,) = clients("cloudformation")
    cfn.create_stack(
        StackName="predict-api",
        TemplateBody=template.read_text(),
        Parameters=[
            {"ParameterKey": "GitHubRepository", "ParameterValue": "my-org/x"},
            {"ParameterKey": "ArtifactsBucketName", "ParameterValue": BUCKET},
        ],
    )


@pytest.mark.slow
def test_a_stack_whose_creation_rolled_back_is_deleted_and_created_again(
    aws_env, stand_in_root, tmp_path, capsys
):
    """ROLLBACK_COMPLETE: the stack never ran anything; CloudFormation only allows deleting it
    (AWS docs, "Troubleshooting CloudFormation": a stack in ROLLBACK_COMPLETE can only be deleted).
    moto never rolls back, so its DescribeStacks answer plays the state until the delete."""
    rolled_back_creation(stand_in_root)
    session = session_seeing("ROLLBACK_COMPLETE", until="DeleteStack")
    code = cli.main(["infra", "--parameters", str(own_parameters(tmp_path))], session=session)
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert "deleting it, then creating it again" in out
    assert "DELETE_COMPLETE" in out  # the delete's own events, streamed
    assert parameters_of("predict-api")["GitHubRepository"] == "my-org/predict-api"


@pytest.mark.slow
def test_a_delete_that_fails_says_so_with_the_stack_status_and_what_to_do(
    aws_env, stand_in_root, tmp_path, capsys
):
    rolled_back_creation(stand_in_root)
    session = session_seeing("ROLLBACK_COMPLETE", until="DeleteStack", then="DELETE_FAILED")
    refuse_to_delete(session)
    code = cli.main(["infra", "--parameters", str(own_parameters(tmp_path))], session=session)
    err = capsys.readouterr().err
    assert code == ExitCode.STACK_NOT_READY, err
    line = error_line(err)
    assert "ended in DELETE_FAILED" in line, line
    assert "`aws cloudformation delete-stack --stack-name predict-api`" in line, line
    assert "then `scripts/release.sh infra`" in line, line


@pytest.mark.slow
def test_a_delete_that_does_not_finish_stops_at_the_timeout(
    aws_env, stand_in_root, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("RELEASE_POLL_SECONDS", "0.5")
    rolled_back_creation(stand_in_root)
    # Long enough for --timeout 2 at a poll every 0.5 s; then moto's DELETE_COMPLETE.
    session = session_seeing(
        "ROLLBACK_COMPLETE", until="DeleteStack", then="DELETE_IN_PROGRESS", times=12
    )
    argv = ["infra", "--parameters", str(own_parameters(tmp_path)), "--timeout", "2"]
    code = cli.main(argv, session=session)
    err = capsys.readouterr().err
    assert code == ExitCode.TIMEOUT, err
    line = error_line(err)
    assert "--timeout 2 s reached: stack still DELETE_IN_PROGRESS" in line, line
    assert "describe-stack-events --stack-name predict-api" in line, line


def recording_deletes(session: boto3.session.Session) -> list[str]:
    """The stacks the deploy asks CloudFormation to delete."""
    deletes: list[str] = []
    session.events.register(
        "provide-client-params.cloudformation.DeleteStack",
        lambda params, **_: deletes.append(params["StackName"]),
    )
    return deletes


def still_rolled_back() -> bool:
    """The failed creation's stack is still there, as rolled_back_creation made it."""
    return parameters_of("predict-api")["GitHubRepository"] == "my-org/x"


def without_github_repository(tmp_path: Path) -> Path:
    path = own_parameters(tmp_path)
    values = json.loads(path.read_text())
    del values["GitHubRepository"]
    path.write_text(json.dumps(values))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["deploy", "dry-run"])
@pytest.mark.parametrize(
    ("refused", "code", "message"),
    [
        ("no GitHubRepository", ExitCode.USAGE, "GitHubRepository is not in the parameters file"),
        ("no repository", ExitCode.IMAGE_NOT_FOUND, "stack predict-api has no repository"),
        ("tag not pushed", ExitCode.IMAGE_NOT_FOUND, f"is not in ECR repository {IMAGES}"),
    ],
)
def test_a_refused_deploy_of_a_stack_whose_creation_rolled_back_deletes_nothing(
    aws_env, stand_in_root, tmp_path, capsys, dry_run, refused, code, message
):
    # The stack is deleted only on the way to creating it again: after every check passed.
    rolled_back_creation(stand_in_root)
    argv = ["infra", "--parameters", str(own_parameters(tmp_path)), *dry_run]
    if refused == "no GitHubRepository":
        argv[2] = str(without_github_repository(tmp_path))
    if refused == "no repository":
        argv += ["--image-tag", SCANNED_TAG]
    if refused == "tag not pushed":
        boto3.client("ecr").create_repository(repositoryName=IMAGES)
        argv[2] = str(own_parameters(tmp_path, ImageRepositoryName=IMAGES))
        argv += ["--image-tag", SCANNED_TAG]
    session = session_seeing("ROLLBACK_COMPLETE", until="DeleteStack")
    deletes = recording_deletes(session)
    assert cli.main(argv, session=session) == code, capsys.readouterr()
    line = error_line(capsys.readouterr().err)
    assert message in line, line
    assert deletes == [] and still_rolled_back()


def s3_objects() -> set[tuple]:
    """Every object version in every bucket: a new key, or a key written again, shows."""
    (s3,) = clients("s3")
    found = set()
    for bucket in s3.list_buckets()["Buckets"]:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"])
        for page in pages:
            for version in page.get("Versions", []):
                found.add(
                    (bucket["Name"], version["Key"], version["VersionId"], version["LastModified"])
                )
    return found


def stacks() -> set[tuple[str, str, str]]:
    (cfn,) = clients("cloudformation")
    return {
        (s["StackName"], s["StackId"], s["StackStatus"])
        for s in cfn.list_stacks()["StackSummaries"]
    }


@pytest.mark.slow
def test_a_dry_run_on_a_rolled_back_creation_writes_nothing_and_says_what_a_deploy_would_do(
    aws_env, stand_in_root, tmp_path, capsys
):
    # As the failed first deploy left the account: its bootstrap stack's bucket, holding what it
    # packaged, and the root stack rolled back. A change set cannot be shown for that stack, so
    # the dry run has no use for the templates in S3: it uploads nothing.
    (cfn,) = clients("cloudformation")
    cfn.create_stack(
        StackName="predict-api-bootstrap",
        TemplateBody=(CFN_DIR / "bootstrap.yaml").read_text(),
        Parameters=[{"ParameterKey": "BucketName", "ParameterValue": BUCKET}],
    )
    boto3.client("s3").put_object(Bucket=BUCKET, Key="predict-api/earlier.template", Body=b"{}")
    rolled_back_creation(stand_in_root)
    objects, stacks_before = s3_objects(), stacks()
    session = session_seeing("ROLLBACK_COMPLETE", until="DeleteStack")
    deletes = recording_deletes(session)
    argv = ["infra", "--parameters", str(own_parameters(tmp_path)), "--dry-run"]
    code = cli.main(argv, session=session)
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert s3_objects() == objects
    assert stacks() == stacks_before
    assert deletes == [] and still_rolled_back()
    assert "would create the ECS service-linked role" in out  # the checks ran
    (line,) = [line for line in out.splitlines() if "ROLLBACK_COMPLETE: a deploy" in line]
    assert "stack predict-api is ROLLBACK_COMPLETE: a deploy" in line, line
    assert f"packages the templates and uploads them to s3://{BUCKET}/predict-api/" in line, line
    assert "deletes the stack and creates it again; nothing changed" in line, line
    assert "packaging" not in out


@pytest.mark.slow
def test_package_only_leaves_a_stack_whose_creation_rolled_back_alone(
    aws_env, stand_in_root, tmp_path_factory, capsys
):
    rolled_back_creation(stand_in_root)
    session = session_seeing("ROLLBACK_COMPLETE", until="DeleteStack")
    deletes = recording_deletes(session)
    out = tmp_path_factory.mktemp("packaged")  # not inside the stand-in root's folder it copies
    code = cli.main(["infra", "--package-only", str(out)], session=session)
    assert code == ExitCode.OK, capsys.readouterr()
    assert (out / "cloudformation" / "root.yaml").is_file()
    assert deletes == [] and still_rolled_back()


@pytest.mark.slow
def test_package_only_reads_no_stack_so_a_new_architecture_packages(
    aws_env, stand_in_root, tmp_path, tmp_path_factory, capsys
):
    # What the deployed stack runs decides nothing for templates packaged for taskcat's stacks.
    released_stack(stand_in_root)
    params = own_parameters(tmp_path, CpuArchitecture="ARM64")
    out = tmp_path_factory.mktemp("packaged")
    argv = ["infra", "--parameters", str(params), "--package-only", str(out)]
    assert cli.main(argv) == ExitCode.OK, capsys.readouterr()
    assert (out / "cloudformation" / "root.yaml").is_file()
    assert parameters_of("predict-api")["CpuArchitecture"] == "X86_64"


@pytest.mark.slow
def test_package_only_writes_the_template_for_taskcat_and_deploys_nothing(aws_env, tmp_path):
    out = tmp_path / "packaged"
    assert cli.main(["infra", "--package-only", str(out)]) == ExitCode.OK
    packaged = (out / "cloudformation" / "root.yaml").read_text()
    assert f"/{BUCKET}/predict-api/" in packaged  # children's URLs now point at the bucket
    assert (out / ".taskcat.yml").is_file()
    iam, cfn = clients("iam", "cloudformation")
    assert [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]] == [
        "predict-api-bootstrap"
    ]
    assert iam.list_roles(PathPrefix="/aws-service-role/")["Roles"] == []


ZONE_ID = "Z0123456789ABCDEFGHIJ"


@pytest.mark.parametrize(
    ("changes", "named", "message"),
    [
        ({"DomainName": "api.example.com"}, ["DomainName", "HostedZoneId"], "set both"),
        ({"HostedZoneId": ZONE_ID}, ["HostedZoneId", "DomainName"], "set both"),
        (
            {"DomainName": "api.example.com", "HostedZoneId": ZONE_ID, "CertificateArn": "arn:x"},
            ["DomainName", "CertificateArn"],
            "both set",
        ),
        *(
            ({"DomainName": name, "HostedZoneId": ZONE_ID}, ["DomainName"], "is not a DNS name")
            for name in (
                "API.example.com",  # root.yaml's pattern: lower case
                "api.example.com.",  # as Route 53 prints names: trailing dot
                "api..example.com",
                "-api.example.com",
                "api_1.example.com",
                "https://api.example.com",
                "localhost",
                f"{'a' * 64}.example.com",  # a label is at most 63 characters
                ".".join(["a" * 63] * 4) + ".com",  # 259 characters > ACM's 253
            )
        ),
        (
            {"DomainName": "api.example.com", "HostedZoneId": f"/hostedzone/{ZONE_ID}"},
            ["HostedZoneId"],
            "is not a hosted zone ID",
        ),
    ],
)
def test_a_domain_without_its_zone_or_beside_a_certificate_is_refused_in_one_line(
    changes, named, message, tmp_path
):
    result = run("--parameters", str(own_parameters(tmp_path, **changes)), env=NOBODY)
    assert result.returncode == ExitCode.USAGE, result.stderr
    line = error_line(result.stderr)
    assert message in line and all(name in line for name in named), line


@pytest.mark.parametrize("name", ["api.example.com", "example.com", "a-1.b.example.co.uk"])
def test_a_domain_with_its_zone_passes_the_local_checks_without_a_plain_http_warning(
    name, tmp_path
):
    changes = {"DomainName": name, "HostedZoneId": ZONE_ID}
    result = run("--parameters", str(own_parameters(tmp_path, **changes)), env=NOBODY)
    assert result.returncode == ExitCode.PREREQUISITE, result.stderr  # stopped at AWS, not before
    assert "cannot reach AWS" in error_line(result.stderr) and "plain HTTP" not in result.stderr


def nothing_was_created() -> bool:
    iam, cfn = clients("iam", "cloudformation")
    return (
        cfn.list_stacks()["StackSummaries"] == []
        and iam.list_roles(PathPrefix="/aws-service-role/")["Roles"] == []
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("zone_name", "private", "domain", "message"),
    [
        (
            "example.com",
            False,
            "api.example.org",
            "is not inside hosted zone {zone} (example.com.)",
        ),
        # A sibling that merely ends in the same letters is not inside the zone.
        ("example.com", False, "api.myexample.com", "is not inside hosted zone {zone}"),
        ("example.com", True, "api.example.com", "{zone} (example.com.) is a private zone"),
        (None, False, "api.example.com", "HostedZoneId {zone} does not exist"),
    ],
)
def test_a_zone_that_cannot_validate_the_certificate_is_refused_before_anything_is_created(
    aws_env, tmp_path, capsys, zone_name, private, domain, message
):
    zone = hosted_zone(zone_name, private) if zone_name else ZONE_ID
    params = own_parameters(tmp_path, DomainName=domain, HostedZoneId=zone)
    code = cli.main(["infra", "--parameters", str(params)])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE, err
    line = error_line(err)
    assert message.format(zone=zone) in line and domain in line, line
    assert nothing_was_created()


@pytest.mark.slow
def test_a_domain_in_its_public_zone_reaches_the_stack(aws_env, stand_in_root, tmp_path, capsys):
    zone = hosted_zone("example.com")
    params = own_parameters(tmp_path, DomainName="api.example.com", HostedZoneId=zone)
    assert cli.main(["infra", "--parameters", str(params)]) == ExitCode.OK
    out = capsys.readouterr()
    assert f"DomainName api.example.com is in the public hosted zone {zone}" in out.out
    assert "plain HTTP" not in out.err
    deployed = parameters_of("predict-api")
    assert deployed["DomainName"] == "api.example.com" and deployed["HostedZoneId"] == zone
    assert deployed["CertificateArn"] == ""
