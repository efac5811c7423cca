"""Every test runs under pytest-timeout's per-test limit (pyproject.toml): a hung test fails with
its stack instead of blocking the run until CI's job limit kills it with none. The limit is read
from pytest's own header, as a run prints it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.helpers import REPO_ROOT


def own_bounds() -> list[int]:
    """Every `timeout=N` in the tests: the bounds of their subprocesses and waits, and release
    options on a fake clock too, which are no wall-clock bound but only make the check stricter."""
    return [
        int(seconds.replace("_", ""))
        for path in (REPO_ROOT / "tests").rglob("*.py")
        for seconds in re.findall(r"\btimeout=([0-9_]+)\b", path.read_text())
    ]


def test_every_test_has_a_timeout_longer_than_any_bound_a_test_sets_itself():
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_TIMEOUT"}  # it overrides the file
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", __file__],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"^timeout: ([0-9.]+)s$", result.stdout, re.MULTILINE)
    assert found, result.stdout
    # A legitimately slow test (a venv bootstrap, a cold-cache build) ends at its own bound first,
    # with its own message.
    assert float(found[1]) > max(own_bounds()), max(own_bounds())
