"""scripts/image-test.sh through a `docker` command: the path a laptop or a GitHub runner takes.

Run by `make test-image` right after scripts/image-test.sh (it reuses that run's base and build
cache: ~20 s), not by the main pytest run. Where no Docker daemon exists, a `docker` that is
podman underneath stands in for the CLI, as Debian's podman-docker package installs it; the base
is the one the previous run used (named through IMAGE_TEST_BASE, since no registry is reachable).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import skip_or_fail

REPO_ROOT = Path(__file__).resolve().parents[2]
LAST_RUN = REPO_ROOT / ".image-cache/image-test.result"
RUNNING_IMAGE_TESTS = REPO_ROOT / "tests/image/test_running_image.py"


def check_names() -> list[str]:
    """The checks scripts/image-test.sh runs on the container: every test in that module."""
    tree = ast.parse(RUNNING_IMAGE_TESTS.read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def last_run() -> dict[str, str]:
    if not LAST_RUN.exists():
        skip_or_fail("scripts/image-test.sh has not passed here (run `make test-image`)")
    return dict(line.split("=", 1) for line in LAST_RUN.read_text().splitlines())


def test_the_same_checks_pass_through_a_docker_cli(tmp_path):
    previous = last_run()
    if previous["engine"] == "docker":
        pytest.skip("scripts/image-test.sh itself ran through Docker here")
    if shutil.which("podman") is None or os.geteuid() != 0:
        skip_or_fail("needs root and podman to stand in for the docker CLI")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text('#!/bin/sh\nexec podman "$@"\n')  # what podman-docker installs
    docker.chmod(0o755)
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/image-test.sh")],
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "IMAGE_TEST_BASE": previous["base"],
            "IMAGE_TEST_RESULT": str(tmp_path / "result"),
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "image-test: engine: docker (podman version" in output, output
    assert f"base: {previous['base']} (IMAGE_TEST_BASE override" in output, output
    # The same checks ran, and passed, through the docker CLI.
    names = check_names()
    assert len(names) >= 8
    for name in names:
        assert re.search(rf"test_running_image\.py::{name}(\[[^]]*\])? PASSED", output), name
    written = dict(line.split("=", 1) for line in (tmp_path / "result").read_text().splitlines())
    assert written["engine"] == "docker" and written["shipped-base"] == "false"
