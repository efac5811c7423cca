"""scripts/release.sh as a user runs it: a subprocess, with a tiny PATH, in a throwaway git repo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from release_tool.errors import ExitCode

from tests.release.stand_in import NEW_TAG, OLD_TAG, STACK, put_image

REPO_ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash") or "/bin/bash"
GIT = shutil.which("git")

FAKE_PODMAN = """#!{bash}
# Stands in for podman: logs its arguments; a push lands the tag in moto's ECR.
PUT_IMAGE='import sys; from tests.release.stand_in import put_image; put_image(sys.argv[1][-40:])'
printf '%s\\n' "$*" >> "{log}"
case $1 in
  login) read -r password; printf '%s' "$password" > "{log}.stdin" ;;
  push) PYTHONPATH="{root}" "{python}" -c "$PUT_IMAGE" "$2" ;;
esac
"""


@pytest.fixture
def release_repo(tmp_path) -> tuple[Path, str]:
    """A committed copy of the release scripts: release.sh checks the git tree it lives in."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts/release.sh", repo / "scripts/release.sh")
    shutil.copytree(
        REPO_ROOT / "scripts/release_tool",
        repo / "scripts/release_tool",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (repo / "Dockerfile").write_text("FROM scratch\n")
    git = [GIT, "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "release test"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return repo, sha


@pytest.fixture
def tool_bin(tmp_path) -> Path:
    """A PATH holding git and nothing else: no aws, docker, podman or buildah."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(GIT)
    return bin_dir


def add_fake_podman(bin_dir: Path, log: Path) -> None:
    script = bin_dir / "podman"
    script.write_text(FAKE_PODMAN.format(bash=BASH, log=log, root=REPO_ROOT, python=sys.executable))
    script.chmod(0o755)


def release(repo: Path, *args: str, path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PATH": str(path), "RELEASE_PYTHON": sys.executable, **env}
    environment.pop("CONTAINER_BUILDER", None)
    return subprocess.run(
        [BASH, str(repo / "scripts/release.sh"), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("release: error: ")
    return lines[0].removeprefix("release: error: ")


def test_help_documents_every_flag_and_every_exit_code(release_repo, tool_bin):
    repo, _ = release_repo
    result = release(repo, "--help", path=tool_bin)
    assert result.returncode == 0
    assert result.stderr == ""
    for flag in ("--stack", "--region", "--tag", "--no-build", "--dry-run", "--allow-dirty"):
        assert flag in result.stdout
    table = result.stdout.split("exit codes:")[1]
    documented = {int(m) for m in re.findall(r"^\s{1,3}(\d{1,3})\s{2}", table, re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown option '--bogus' (see --help)"),
        (["--stack"], "--stack needs a value (see --help)"),
        (["--region", "--dry-run"], "--region needs a value (see --help)"),
        (["extra"], "unexpected argument 'extra' (see --help)"),
        (["--tag", "abc1234"], "--tag needs --no-build: a built image is always tagged with"),
        (["--no-build", "--tag=latest"], "invalid --tag 'latest': expected a git commit SHA"),
        (["--no-build", "--tag", "ABC1234"], "invalid --tag 'ABC1234': expected a git commit"),
        (["--timeout", "soon"], "--timeout needs a whole number of seconds, got 'soon'"),
        (["--no-build", "--stack", "bad name!"], "invalid --stack 'bad name!': a letter, then"),
        (["--no-build", "--stack", "9lives"], "invalid --stack '9lives': a letter, then"),
        (["--no-build", "--health-url", "notaurl"], "invalid --health-url 'notaurl': expected"),
        (["--no-build", "--health-url=ftp://x/health"], "invalid --health-url 'ftp://x/health'"),
        (["--no-build", "--health-url", "https:///health"], "invalid --health-url 'https:///"),
    ],
)
def test_bad_flags_get_one_line_and_exit_2(release_repo, tool_bin, args, message):
    repo, _ = release_repo
    result = release(repo, *args, path=tool_bin)
    assert result.returncode == ExitCode.USAGE
    assert one_line_error(result).startswith(message)


def test_a_python_without_boto3_is_a_missing_prerequisite(release_repo, tool_bin):
    repo, _ = release_repo
    result = release(repo, "--no-build", path=tool_bin, RELEASE_PYTHON="/bin/false")
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result).startswith("no python with boto3: run 'bash scripts/bootstrap.sh")


def test_git_is_a_prerequisite(release_repo, tmp_path):
    repo, _ = release_repo
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = release(repo, "--no-build", path=empty)
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result) == (
        "git not found on PATH (the image is tagged with the commit SHA)"
    )


def test_a_container_builder_is_a_prerequisite(release_repo, tool_bin):
    repo, _ = release_repo
    result = release(repo, path=tool_bin)
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result) == (
        "no container builder: install docker (with a running daemon), podman or buildah, "
        "or pass --no-build"
    )


def test_a_dirty_tree_is_refused_unless_allowed(release_repo, tool_bin, tmp_path):
    repo, _ = release_repo
    add_fake_podman(tool_bin, tmp_path / "podman.log")
    (repo / "notes.txt").write_text("uncommitted\n")
    result = release(repo, path=tool_bin)
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result).startswith("work tree has uncommitted changes; commit them or")
    assert not (tmp_path / "podman.log").exists()


def test_missing_aws_credentials_are_a_prerequisite(release_repo, tool_bin, tmp_path):
    repo, _ = release_repo
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "us-east-1",
        "PATH": str(tool_bin),
        "RELEASE_PYTHON": sys.executable,
    }
    result = subprocess.run(
        [BASH, str(repo / "scripts/release.sh"), "--no-build"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result).startswith("no AWS credentials found: set AWS_PROFILE")


def test_a_missing_stack_exits_4(aws_env, release_repo, tool_bin):
    repo, _ = release_repo
    result = release(repo, "--no-build", "--stack", "nope", path=tool_bin)
    assert result.returncode == ExitCode.STACK_NOT_READY
    assert one_line_error(result) == (
        "stack 'nope' not found in us-east-1; deploy the infrastructure first "
        "(scripts/deploy-infra.sh)"
    )


def test_a_tag_missing_from_ecr_exits_6(stand_in_stack, release_repo, tool_bin):
    repo, _ = release_repo
    result = release(repo, "--no-build", "--tag", NEW_TAG, path=tool_bin)
    assert result.returncode == ExitCode.IMAGE_NOT_FOUND
    assert one_line_error(result).startswith(f"image tag {NEW_TAG} is not in ECR repository")


def test_dry_run_against_moto_shows_the_change_set_and_changes_nothing(
    stand_in_stack, release_repo, tool_bin
):
    repo, sha = release_repo
    put_image(sha)  # --no-build deploys HEAD's SHA by default
    result = release(repo, "--no-build", "--dry-run", path=tool_bin)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"parameter ImageTag: {OLD_TAG} -> {sha}" in result.stdout
    assert "kept at their previous values: ArtifactsBucketName, HealthUrl" in result.stdout
    assert "dry run: change set deleted, nothing executed" in result.stdout
    cfn = boto3.client("cloudformation")
    assert cfn.list_change_sets(StackName=STACK)["Summaries"] == []
    found = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}[
        "ImageTag"
    ] == OLD_TAG


def test_a_build_is_tagged_with_the_full_sha_and_a_dry_run_pushes_nothing(
    stand_in_stack, release_repo, tool_bin, tmp_path
):
    repo, sha = release_repo
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    result = release(repo, "--dry-run", path=tool_bin)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        f"build --format docker --platform linux/amd64 "
        f"--build-arg VCS_REF={sha} -t predict-api:{sha} ."
    ]
    assert f"dry run: would push predict-api:{sha} as " in result.stdout
    assert "latest" not in result.stdout


def test_a_full_run_builds_pushes_and_refuses_to_report_success_moto_cannot_give(
    stand_in_stack, release_repo, tool_bin, tmp_path
):
    """Build, ECR login (token on stdin), tag, push, change set, execute: all real against moto.
    moto then leaves the ECS service on the old image (FIELD-NOTES §2), so verification fails
    with exit 12: the wrapper never claims a release it cannot prove."""
    repo, sha = release_repo
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    result = release(repo, path=tool_bin, RELEASE_POLL_SECONDS="0")
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/predict-api"
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["build", "login", "tag", "push"]
    assert calls[1] == f"login --username AWS --password-stdin {uri.split('/')[0]}"
    assert (tmp_path / "podman.log.stdin").read_text()  # the password came on stdin
    assert calls[2:] == [f"tag predict-api:{sha} {uri}:{sha}", f"push {uri}:{sha}"]
    assert result.returncode == ExitCode.VERIFY_FAILED, result.stderr
    assert one_line_error(result) == (
        f"PRIMARY deployment runs {uri}:{OLD_TAG}, expected {uri}:{sha}"
    )
    assert "UPDATE_COMPLETE" in result.stdout


def test_a_short_sha_is_resolved_to_the_full_one_inside_the_repository(
    stand_in_stack, release_repo, tool_bin
):
    repo, sha = release_repo
    put_image(sha)  # pushed images carry the full SHA
    result = release(repo, "--no-build", "--dry-run", "--tag", sha[:7], path=tool_bin)
    assert result.returncode == 0, result.stderr
    assert f"==> --tag {sha[:7]} is commit {sha}" in result.stdout
    assert f"parameter ImageTag: {OLD_TAG} -> {sha}" in result.stdout


def test_a_short_sha_outside_a_repository_says_tags_are_full_shas(
    stand_in_stack, release_repo, tool_bin
):
    repo, sha = release_repo
    put_image(sha)
    shutil.rmtree(repo / ".git")  # e.g. scripts copied out of the repository
    result = release(repo, "--no-build", "--tag", sha[:7], path=tool_bin)
    assert result.returncode == ExitCode.IMAGE_NOT_FOUND
    assert one_line_error(result) == (
        f"image tag {sha[:7]} is not in ECR repository predict-api; images are tagged with the "
        "full 40-hex commit SHA: pass the full SHA (release.sh resolves a short one only inside "
        "the git repository holding that commit)"
    )
