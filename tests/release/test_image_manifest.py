"""The release builds one image manifest for one platform, which ECR can scan: docker without
BuildKit's attestations (moby/buildkit#3499: an index with a provenance manifest fails ECR's scan),
podman and buildah as they are (checked with the real engine where it runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from release_tool import workspace
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter

from tests.release.conftest import skip_or_fail

FAKE_BUILDER = """#!/bin/sh
printf '%s\\n' "$@" > "{log}"
"""


def build_argv(tmp_path: Path, monkeypatch, builder: str, **kwargs) -> list[str]:
    """workspace.build with a stand-in builder on PATH; the arguments it was given."""
    bin_dir, log = tmp_path / "bin", tmp_path / "argv"
    bin_dir.mkdir()
    fake = bin_dir / builder
    fake.write_text(FAKE_BUILDER.format(log=log))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    workspace.build(builder, "predict-api:test", "a" * 40, Reporter(), **kwargs)
    return log.read_text().splitlines()


def test_docker_builds_without_attestations_for_the_platform_given(tmp_path, monkeypatch):
    argv = build_argv(tmp_path, monkeypatch, "docker", platform="linux/arm64")
    assert {"--provenance=false", "--sbom=false"} <= set(argv)
    assert argv[argv.index("--platform") + 1] == "linux/arm64"


def test_the_default_platform_is_the_fargate_default(tmp_path, monkeypatch):
    argv = build_argv(tmp_path, monkeypatch, "podman")
    assert argv[argv.index("--platform") + 1] == "linux/amd64"
    assert "--provenance=false" not in argv  # podman has no attestations to turn off


def test_a_platform_fargate_does_not_run_is_refused_before_building(tmp_path, monkeypatch):
    with pytest.raises(ReleaseError, match="platform 'linux/s390x' is not one Fargate runs") as e:
        build_argv(tmp_path, monkeypatch, "docker", platform="linux/s390x")
    assert e.value.code == ExitCode.USAGE
    assert not (tmp_path / "argv").exists()  # nothing built


def require_podman(env: dict[str, str]) -> None:
    """Podman as root, or rootless where it can make its user namespace (needs /etc/subuid and
    newuidmap; `podman unshare` says "please use unshare with rootless" to root, so not asked)."""
    if shutil.which("podman") is None:
        skip_or_fail("podman is not installed")
    if os.geteuid() == 0:
        return
    probe = subprocess.run(
        ["podman", "unshare", "true"], env=env, capture_output=True, text=True, timeout=120
    )
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        skip_or_fail(f"rootless podman cannot make its user namespace here: {said}")


@pytest.mark.parametrize(("image_format", "media_type"), [
    ("docker", "application/vnd.docker.distribution.manifest.v2+json"),
    ("oci", "application/vnd.oci.image.manifest.v1+json"),
])  # fmt: skip
def test_podman_pushes_one_manifest_for_one_platform(tmp_path, image_format, media_type):
    """What `podman push` sends for a one-platform build: an image manifest, not an index."""
    storage, containers = tmp_path / "storage.conf", tmp_path / "containers.conf"
    storage.write_text(
        f'[storage]\ndriver="vfs"\nrunroot="{tmp_path}/run"\ngraphroot="{tmp_path}/g"\n'
    )
    containers.write_text(
        '[engine]\nruntime="runc"\ncgroup_manager="cgroupfs"\nevents_logger="file"\n'
    )
    env = {
        **os.environ,
        "CONTAINERS_STORAGE_CONF": str(storage),
        "CONTAINERS_CONF": str(containers),
        "TMPDIR": str(tmp_path),
    }
    require_podman(env)
    context = tmp_path / "context"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Containerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    podman = ["podman"]
    build = [*podman, "build", "-q", "--isolation", "chroot", "--format", image_format]
    subprocess.run(
        [*build, "--platform", "linux/amd64", "-t", "localhost/probe:1", str(context)],
        env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    pushed = tmp_path / "pushed"
    subprocess.run(
        [*podman, "push", "-q", "localhost/probe:1", f"dir:{pushed}"],
        env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    manifest = json.loads((pushed / "manifest.json").read_text())
    assert manifest["mediaType"] == media_type
    assert "manifests" not in manifest  # not an index
