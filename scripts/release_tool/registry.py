"""ECR: is the tag there, and pushing a locally built image with docker, podman or buildah."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from release_tool.deadline import Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.workspace import BUILDERS

FULL_SHA_LENGTH = 40  # release.sh pushes images tagged with `git rev-parse HEAD`
# An image index (several platforms, or one platform plus BuildKit's provenance/SBOM attestation
# manifests) is not one image: ECR basic scanning fails on it (moby/buildkit#3499) and Inspector
# scans only its children, not the tag (aws/containers-roadmap#1683). The scan gate would wait
# for a verdict that never comes.
INDEX_MEDIA_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


def repository_name(repository_uri: str) -> str:
    """123.dkr.ecr.REGION.amazonaws.com/NAME -> NAME (names may contain slashes)."""
    return repository_uri.split("/", 1)[1] if "/" in repository_uri else repository_uri


def tag_exists(
    ecr: Any, repository: str, tag: str, named_by: str = "the stack's RepositoryUri"
) -> bool:
    """Whether the tag is in ECR; an image index under it is refused (exit 7): it cannot be
    scanned, and tags are immutable, so it must be deleted and pushed again as one image.
    named_by: where the repository's name comes from, for the message when it does not exist."""
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "ImageNotFoundException":
            return False
        if code == "RepositoryNotFoundException":
            raise ReleaseError(
                ExitCode.STACK_NOT_READY,
                f"ECR repository {repository!r} ({named_by}) does not exist",
            ) from None
        raise
    details = (found.get("imageDetails") or [{}])[0]
    media_type = details.get("imageManifestMediaType")
    if media_type in INDEX_MEDIA_TYPES:
        raise ReleaseError(
            ExitCode.BUILD_OR_PUSH_FAILED,
            f"{repository}:{tag} in ECR is an image index ({media_type}), which ECR's scan "
            "cannot scan: delete it and push a single-platform image (docker build "
            "--provenance=false --sbom=false with one --platform, as the release builds it)",
            details=[
                f"aws ecr batch-delete-image --repository-name {repository} "
                f"--image-ids imageTag={tag}"
            ],
        )
    return True


def missing_tag(repository: str, tag: str) -> ReleaseError:
    hint = (
        "build and push it first (run without --no-build)"
        if len(tag) == FULL_SHA_LENGTH
        else "images are tagged with the full 40-hex commit SHA: pass the full SHA "
        "(release.sh resolves a short one only inside the git repository holding that commit)"
    )
    return ReleaseError(
        ExitCode.IMAGE_NOT_FOUND, f"image tag {tag} is not in ECR repository {repository}; {hint}"
    )


def require_tag(ecr: Any, repository: str, tag: str) -> None:
    if not tag_exists(ecr, repository, tag):
        raise missing_tag(repository, tag)


Runner = Callable[..., subprocess.CompletedProcess]


def push(
    ecr: Any,
    builder: str,
    local_image: str,
    repository_uri: str,
    tag: str,
    reporter: Reporter,
    deadline: Deadline,
    run: Runner = subprocess.run,
) -> None:
    """Log the builder in to ECR (password on stdin, never on the command line), tag, push."""
    if builder not in BUILDERS:
        raise ReleaseError(ExitCode.USAGE, f"unknown builder {builder!r} (one of {BUILDERS})")
    auth = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    registry = repository_uri.split("/", 1)[0]
    remote = f"{repository_uri}:{tag}"
    reporter.info(f"{builder} login {registry}")
    login = [builder, "login", "--username", user, "--password-stdin", registry]
    _run(run, login, deadline, password)
    reporter.info(f"{builder} tag {local_image} {remote}")
    _run(run, [builder, "tag", local_image, remote], deadline)
    reporter.info(f"{builder} push {remote}")
    _run(run, [builder, "push", remote], deadline, show_output=True)


def _run(
    run: Runner,
    argv: list[str],
    deadline: Deadline,
    stdin: str | None = None,
    show_output: bool = False,
) -> None:
    try:
        result = run(
            argv,
            input=stdin,
            text=True,
            check=False,
            stdout=None if show_output else subprocess.PIPE,
            stderr=None if show_output else subprocess.STDOUT,
            timeout=max(deadline.remaining(), 1.0),
        )
    except subprocess.TimeoutExpired:
        # An unfinished push leaves no tag in ECR (the manifest goes last): nothing half done.
        raise deadline.timed_out(
            f"{argv[0]} {argv[1]} did not finish; nothing was deployed", None
        ) from None
    except OSError as error:
        raise ReleaseError(
            ExitCode.BUILD_OR_PUSH_FAILED, f"{argv[0]} {argv[1]} failed: {error}"
        ) from None
    if result.returncode != 0:
        last = (result.stdout or "").strip().splitlines()[-1:] or ["see the output above"]
        raise ReleaseError(
            ExitCode.BUILD_OR_PUSH_FAILED,
            f"{argv[0]} {argv[1]} failed (exit {result.returncode}): {last[0]}",
        )
