"""scripts/image-test.sh on a machine that cannot run a container engine: as a non-root user with
no Docker daemon, no rootless podman and no apt-get, it skips with one line, or fails under
REQUIRE_ALL_CHECKS=1 (what .ci/run sets), so CI cannot skip the image test silently."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.image.conftest import skip_or_fail

REPO_ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


@pytest.fixture
def bare_path():
    """A PATH with the shell tools the script needs before it picks an engine, and no engine; in a
    directory of its own that the unprivileged user can reach (pytest's tmp_path is root's only)."""
    with tempfile.TemporaryDirectory() as directory:
        bin_dir = Path(directory)
        bin_dir.chmod(0o755)
        for tool in ("bash", "sed", "head", "id", "grep", "dirname", "cat", "rm", "date"):
            (bin_dir / tool).symlink_to(shutil.which(tool))
        yield str(bin_dir)


def run_as_non_root(
    bare_path: str, script: Path = REPO_ROOT / "scripts/image-test.sh", **env: str
) -> subprocess.CompletedProcess:
    command = ["bash", str(script)]
    if os.geteuid() == 0:  # become nobody: the case under test is a user without root
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            skip_or_fail("running as root and setpriv (util-linux) is missing to drop it")
        command = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    return subprocess.run(
        command,
        env={"PATH": bare_path, **env},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_without_any_engine_the_image_test_is_skipped_with_one_line(bare_path):
    result = run_as_non_root(bare_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("image-test: SKIPPED: no Docker daemon answers"), result.stdout
    assert len(result.stdout.splitlines()) == 1, result.stdout


def test_require_all_checks_turns_the_skip_into_a_failure(bare_path):
    result = run_as_non_root(bare_path, REQUIRE_ALL_CHECKS="1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "image-test: FAILED:" in result.stderr and "REQUIRE_ALL_CHECKS=1" in result.stderr


# A podman that starts but reaches no registry (a rootless user offline or behind a firewall).
OFFLINE_PODMAN = """#!/bin/bash
case "$1" in
  --version) echo "podman version 5.4.2" ;;
  pull) echo "Error: initializing source docker://$3: pinging registry: no such host" >&2
        exit 125 ;;
  rm) exit 0 ;;
  *) exit 1 ;;
esac
"""


@pytest.fixture
def offline_podman_checkout(bare_path):
    """A copy of what the script reads, owned by the unprivileged user, and a podman on PATH
    that cannot pull."""
    with tempfile.TemporaryDirectory() as directory:
        checkout = Path(directory)
        (checkout / "scripts").mkdir()
        for name in ("scripts/image-test.sh", "scripts/skip-or-fail.sh", "Dockerfile"):
            shutil.copy(REPO_ROOT / name, checkout / name)
        podman = Path(bare_path) / "podman"
        podman.write_text(OFFLINE_PODMAN)
        podman.chmod(0o755)
        for tool in ("curl", "python3", "mktemp", "mkdir", "awk", "cut"):
            found = shutil.which(tool, path="/usr/bin:/bin")  # the system's, any user may run
            if found:
                (Path(bare_path) / tool).symlink_to(found)
        if os.geteuid() == 0:
            for path in [checkout, *checkout.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        checkout.chmod(0o755)
        yield checkout


def test_an_engine_that_cannot_pull_the_base_skips_with_one_line(
    bare_path, offline_podman_checkout
):
    script = offline_podman_checkout / "scripts/image-test.sh"
    result = run_as_non_root(bare_path, script=script, IMAGE_TEST_ENGINE="podman")
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if "SKIPPED" in line]
    assert len(skipped) == 1 and skipped[0].startswith("image-test: SKIPPED: podman cannot pull")
    assert "no such host" in skipped[0]  # the engine's own reason, on the same line
    assert "FAIL" not in result.stdout + result.stderr

    strict = run_as_non_root(
        bare_path,
        script=script,
        IMAGE_TEST_ENGINE="podman",
        REQUIRE_ALL_CHECKS="1",
    )
    assert strict.returncode == 1
    assert "image-test: FAILED:" in strict.stderr and "cannot pull" in strict.stderr
