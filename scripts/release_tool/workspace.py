"""This machine's side of a release: git (the commit SHA that names the image, a clean tree) and
the container builder. Each missing piece is exit 3 with one line saying what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO_ROOT / "cloudformation"  # root.yaml and its nested stacks, packaged as a whole
BUILDERS = ("docker", "podman", "buildah")
# The image platform for the task's RuntimePlatform.CpuArchitecture (the stack's parameter).
PLATFORM_BY_CPU_ARCHITECTURE = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
PLATFORMS = tuple(PLATFORM_BY_CPU_ARCHITECTURE.values())


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False
    )


def require_git() -> None:
    if shutil.which("git") is None:
        raise ReleaseError(
            ExitCode.PREREQUISITE, "git not found on PATH (the image is tagged with the commit SHA)"
        )
    if _git("rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        raise ReleaseError(
            ExitCode.PREREQUISITE, f"{REPO_ROOT} is not a git work tree with a commit"
        )


def head_sha() -> str:
    return _git("rev-parse", "HEAD").stdout.strip()


def full_sha(short: str) -> str | None:
    """The full SHA of a commit in this repository, or None (no git, no repository, no commit)."""
    if shutil.which("git") is None:
        return None
    found = _git("rev-parse", "--verify", "--quiet", f"{short}^{{commit}}")
    return found.stdout.strip() if found.returncode == 0 else None


def is_dirty() -> bool:
    """Uncommitted changes to tracked files, or untracked files git does not ignore."""
    return bool(_git("status", "--porcelain").stdout.strip())


def choose_builder() -> str:
    chosen = os.environ.get("CONTAINER_BUILDER")  # its value was checked with the arguments
    if chosen:
        if shutil.which(chosen) is None:
            raise ReleaseError(ExitCode.PREREQUISITE, f"CONTAINER_BUILDER={chosen} is not on PATH")
        return chosen
    if shutil.which("docker"):  # a docker client without a reachable daemon cannot build
        info = subprocess.run(["docker", "info"], capture_output=True, check=False)
        if info.returncode == 0:
            return "docker"
    for builder in ("podman", "buildah"):
        if shutil.which(builder):
            return builder
    raise ReleaseError(
        ExitCode.PREREQUISITE,
        "no container builder: install docker (with a running daemon), podman or buildah, "
        "or pass --no-build",
    )


def build(
    builder: str, image: str, vcs_ref: str, reporter: Reporter, platform: str = "linux/amd64"
) -> None:
    """Build the image from the repository root; the builder's own output streams through.

    A Ctrl-C reaches the builder and this process alike (one process group): KeyboardInterrupt
    then ends the release with 130 even when the builder catches SIGINT and exits non-zero.
    """
    if platform not in PLATFORMS:
        raise ReleaseError(
            ExitCode.USAGE, f"platform {platform!r} is not one Fargate runs: one of {PLATFORMS}"
        )
    command = ["bud", "--format", "docker"] if builder == "buildah" else ["build"]
    if builder == "podman":
        command += ["--format", "docker"]  # the docker format keeps the HEALTHCHECK
    if builder == "docker":
        # One image manifest, not an index with attestations, which ECR cannot scan
        # (moby/buildkit#3499). podman and buildah build one manifest for one --platform.
        command += ["--provenance=false", "--sbom=false"]
    labels = subprocess.run(  # the OCI labels' build arguments, one home for CI and releases
        [shutil.which("bash") or "/bin/bash", "scripts/image-labels.sh", vcs_ref],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if labels.returncode != 0:
        raise ReleaseError(
            ExitCode.BUILD_OR_PUSH_FAILED,
            f"scripts/image-labels.sh failed: {labels.stderr.strip() or labels.returncode}",
        )
    argv = [
        builder,
        *command,
        "--platform",
        platform,
        *labels.stdout.splitlines(),
        "-t",
        image,
        ".",
    ]
    reporter.step(f"building {image} with {builder} ({platform})")
    result = subprocess.run(argv, cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        raise ReleaseError(
            ExitCode.BUILD_OR_PUSH_FAILED,
            f"image build with {builder} failed (exit {result.returncode})",
        )


def image_revision(builder: str, image: str) -> str:
    """The commit an image says it was built from (its org.opencontainers.image.revision)."""
    label = '{{index .Config.Labels "org.opencontainers.image.revision"}}'
    result = subprocess.run(
        [builder, "image", "inspect", "--format", label, image],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ReleaseError(
            ExitCode.PREREQUISITE, f"--image {image}: not an image {builder} knows on this machine"
        )
    return result.stdout.strip()
