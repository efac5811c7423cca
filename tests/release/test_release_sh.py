"""scripts/release.sh as a user runs it: a subprocess, with a tiny PATH, in a throwaway git repo."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from release_tool.errors import ExitCode

from tests.release.stand_in import (
    BASH,
    NEW_TAG,
    OLD_TAG,
    STACK,
    STAND_IN_TEMPLATE,
    add_fake_podman,
    one_line_error,
    put_image,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GIT = shutil.which("git")


@pytest.fixture
def release_repo(tmp_path) -> tuple[Path, str]:
    """A committed copy of the release scripts: release.sh checks the git tree it lives in."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts/release.sh", repo / "scripts/release.sh")
    shutil.copy(REPO_ROOT / "scripts/image-labels.sh", repo / "scripts/image-labels.sh")
    shutil.copy(REPO_ROOT / ".gitignore", repo / ".gitignore")
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
    """A PATH holding git and the few coreutils scripts/image-labels.sh uses, and nothing else:
    no aws, docker, podman or buildah."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "dirname", "sed", "date"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return bin_dir


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


def test_a_python_without_boto3_is_a_missing_prerequisite(release_repo, tool_bin, tmp_path):
    bare = tmp_path / "bare-python"  # a python that cannot see site-packages, so no boto3
    bare.write_text(f'#!{BASH}\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    repo, _ = release_repo
    result = release(repo, "--no-build", path=tool_bin, RELEASE_PYTHON=str(bare))
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result).startswith("boto3 is not installed: run `bash scripts/bootstrap")


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


def test_a_dirty_tree_is_refused_before_any_build(release_repo, tool_bin, tmp_path):
    repo, _ = release_repo
    add_fake_podman(tool_bin, tmp_path / "podman.log")
    (repo / "notes.txt").write_text("uncommitted\n")
    result = release(repo, path=tool_bin)
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result) == (
        "work tree has uncommitted changes; commit them (a pushed image must be exactly its "
        "commit's build), or pass --no-build to deploy an image already in ECR"
    )
    assert not (tmp_path / "podman.log").exists()


def test_the_parameters_file_of_step_1_leaves_the_tree_clean(
    stand_in_stack, release_repo, tool_bin, tmp_path
):
    """README step 1 copies the example parameters into the tree; step 2 must still run."""
    repo, _sha = release_repo
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    (repo / "cloudformation").mkdir()
    (repo / "cloudformation/parameters.json").write_text("{}\n")
    result = release(repo, "--dry-run", path=tool_bin)
    assert result.returncode == 0, result.stderr
    assert log.read_text().startswith("build ")


def test_a_dirty_build_is_never_pushed(stand_in_stack, release_repo, tool_bin, tmp_path):
    """--allow-dirty (with --dry-run only) builds <sha>-dirty locally: the commit's tag in ECR
    can only ever hold that commit's build."""
    repo, sha = release_repo
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    (repo / "notes.txt").write_text("uncommitted\n")
    result = release(repo, "--dry-run", "--allow-dirty", path=tool_bin)
    assert result.returncode == 0, result.stderr
    assert [c.split()[0] for c in log.read_text().splitlines()] == ["build"]
    assert f"-t predict-api:{sha}-dirty ." in log.read_text()
    assert f"predict-api:{sha}-dirty is a dirty build: it stays on this machine" in result.stdout
    images = boto3.client("ecr").describe_images(repositoryName="predict-api")["imageDetails"]
    assert [i["imageTags"] for i in images] == [[OLD_TAG]]


def test_a_tag_already_in_ecr_is_not_built_again(stand_in_stack, release_repo, tool_bin, tmp_path):
    repo, sha = release_repo
    put_image(sha)  # CI built this commit already
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    result = release(repo, "--dry-run", path=tool_bin)
    assert result.returncode == 0, result.stderr
    assert f"==> tag {sha} is already in ECR: not building it again" in result.stdout
    assert not log.exists()


INTERRUPTIBLE_PODMAN = """#!{bash}
# Like the docker CLI: catches SIGINT and exits 2 (not 130).
trap 'echo interrupted >> "{log}"; kill "$sleeper"; exit 2' INT
# A background job of a script ignores SIGINT: kept off the caller's pipes, and killed by the trap.
/bin/sleep 30 </dev/null >/dev/null 2>&1 &
sleeper=$!
echo "$1" >> "{log}"
wait "$sleeper"
"""


def test_ctrl_c_during_the_build_exits_130_and_says_nothing_changed(
    stand_in_stack, release_repo, tool_bin, tmp_path
):
    repo, _ = release_repo
    log = tmp_path / "podman.log"
    podman = tool_bin / "podman"
    podman.write_text(INTERRUPTIBLE_PODMAN.format(bash=BASH, log=log))
    podman.chmod(0o755)
    environment = {**os.environ, "PATH": str(tool_bin), "RELEASE_PYTHON": sys.executable}
    environment.pop("CONTAINER_BUILDER", None)
    process = subprocess.Popen(
        [BASH, str(repo / "scripts/release.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        # A run started with SIGINT ignored (nohup, `&`) passes that on; Ctrl-C reaches a
        # terminal's job with the default disposition, so restore it in the child.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text().startswith("build")):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _out, err = process.communicate(timeout=30)
    assert "interrupted" in log.read_text()  # the builder caught it and exited 2
    assert process.returncode == ExitCode.INTERRUPTED == 130, err
    assert err.splitlines() == [
        "release: error: interrupted before any stack update started: the stack is unchanged"
    ]


def test_a_missing_stack_exits_4(aws_env, release_repo, tool_bin):
    repo, _ = release_repo
    result = release(repo, "--no-build", "--stack", "nope", path=tool_bin)
    assert result.returncode == ExitCode.STACK_NOT_READY
    assert "stack 'nope' not found in us-east-1" in one_line_error(result)
    assert "scripts/release.sh infra" in one_line_error(result)  # what to run instead


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
    assert "kept at their previous values: ArtifactsBucketName, CpuArchitecture, HealthUrl" in (
        result.stdout
    )
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
    [build] = log.read_text().splitlines()
    assert build.startswith(
        f"build --format docker --platform linux/amd64 --build-arg VCS_REF={sha} "
    )
    assert build.endswith(f" -t predict-api:{sha} .")
    assert f"dry run: would push predict-api:{sha} as " in result.stdout
    assert "latest" not in result.stdout


def test_the_image_is_built_for_the_stacks_cpu_architecture(
    aws_env, health_server, release_repo, tool_bin, tmp_path
):
    cfn = boto3.client("cloudformation")
    cfn.create_stack(
        StackName=STACK,
        TemplateBody=STAND_IN_TEMPLATE,
        Parameters=[
            {"ParameterKey": "ImageTag", "ParameterValue": OLD_TAG},
            {"ParameterKey": "HealthUrl", "ParameterValue": health_server.url},
            {"ParameterKey": "CpuArchitecture", "ParameterValue": "ARM64"},
        ],
    )
    repo, _ = release_repo
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    result = release(repo, "--dry-run", path=tool_bin)
    assert result.returncode == 0, result.stderr
    [build] = log.read_text().splitlines()
    assert " --platform linux/arm64 " in build


def test_a_full_run_builds_pushes_and_refuses_to_report_success_moto_cannot_give(
    stand_in_stack, release_repo, tool_bin, tmp_path
):
    """Build, ECR login (token on stdin), tag, push, change set, execute: all real against moto.
    moto then leaves the ECS service on the old image, so verification fails
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


def test_an_uppercase_sha_names_the_same_commit(stand_in_stack, release_repo, tool_bin):
    repo, sha = release_repo
    put_image(sha)
    result = release(repo, "--no-build", "--dry-run", "--tag", sha.upper(), path=tool_bin)
    assert result.returncode == 0, result.stderr
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


@pytest.mark.parametrize("other", [["--no-build"], ["--tag", "a" * 40, "--no-build"]])
def test_an_image_to_push_goes_with_no_other_source_of_image(release_repo, tool_bin, other):
    repo, _ = release_repo
    result = release(repo, "--image", "localhost/predict-api:ci", *other, path=tool_bin)
    assert result.returncode == ExitCode.USAGE
    assert "--image pushes HEAD's build" in result.stderr


def test_an_image_built_from_another_commit_is_refused(release_repo, tool_bin, tmp_path):
    repo, sha = release_repo
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    result = release(
        repo, "--image", "localhost/predict-api:ci", path=tool_bin, FAKE_REVISION="b" * 40
    )
    assert result.returncode == ExitCode.USAGE
    assert one_line_error(result) == (
        f"--image localhost/predict-api:ci was built from {'b' * 40}, not from HEAD ({sha}): "
        "its tag would name a commit whose build it is not"
    )
    assert [line.split()[0] for line in log.read_text().splitlines()] == [
        "image"
    ]  # no build, no push


def test_an_image_built_from_head_is_pushed_as_it_is(
    stand_in_stack, release_repo, tool_bin, tmp_path
):
    repo, sha = release_repo
    log = tmp_path / "podman.log"
    add_fake_podman(tool_bin, log)
    result = release(
        repo, "--image", "localhost/predict-api:ci", "--dry-run", path=tool_bin, FAKE_REVISION=sha
    )
    assert result.returncode == 0, result.stderr
    assert "build" not in log.read_text()
    assert "dry run: would push localhost/predict-api:ci as " in result.stdout


@pytest.mark.parametrize("image", ["", "Predict API:ci", "-rm"])
def test_a_malformed_image_reference_exits_2_before_anything_runs(release_repo, tool_bin, image):
    repo, _ = release_repo
    result = release(repo, f"--image={image}", path=tool_bin)
    assert result.returncode == ExitCode.USAGE
    assert f"invalid image {image!r}: expected a local image reference" in result.stderr
