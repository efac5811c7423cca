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


def run_as_non_root(bare_path: str, **env: str) -> subprocess.CompletedProcess:
    command = ["bash", str(REPO_ROOT / "scripts/image-test.sh")]
    if os.geteuid() == 0:  # become nobody: the case under test is a user without root
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing to drop it")
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
