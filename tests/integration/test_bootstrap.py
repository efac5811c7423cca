"""scripts/bootstrap.sh as a newcomer runs it: a plain user, the distribution's own python3, no uv.

Debian 12+, Ubuntu 23.04+ and Fedora mark their python3 as externally managed (PEP 668), so a
`pip install` into it is refused: bootstrap must make its venvs with the standard library's venv and
put uv inside one. As root the test creates a throwaway plain user to run it; as a plain user (a
GitHub runner) it runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, skip_or_fail

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAIN_USER = "predict-newcomer"
DISTRIBUTION_PYTHON = Path("/usr/bin/python3")
# What `make run` needs from a clone: the script, the package and its metadata.
NEEDED = ["scripts/bootstrap.sh", "setup.cfg", "pyproject.toml", "README.md", "constraints.txt"]


@pytest.fixture
def plain_user_clone(tmp_path) -> tuple[list[str], Path]:
    """(how to become the plain user, a copy of the repository that user owns)."""
    if not DISTRIBUTION_PYTHON.exists():
        skip_or_fail(f"bootstrap on the distribution's python: no {DISTRIBUTION_PYTHON}")
    if os.geteuid() != 0:
        become: list[str] = []
        home = tmp_path
    else:
        if not shutil.which("useradd") or not shutil.which("runuser"):
            skip_or_fail("bootstrap as a plain user: no useradd/runuser to create one")
        try:
            pwd.getpwnam(PLAIN_USER)
        except KeyError:
            subprocess.run(["useradd", "--create-home", PLAIN_USER], check=True)
        become = ["runuser", "-u", PLAIN_USER, "--"]
        home = Path(pwd.getpwnam(PLAIN_USER).pw_dir)
    clone = home / f"clone-{tmp_path.name}"
    shutil.rmtree(clone, ignore_errors=True)
    for name in NEEDED:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, clone / name)
    shutil.copytree(
        REPO_ROOT / "predict_service",
        clone / "predict_service",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    if become:
        subprocess.run(["chown", "-R", f"{PLAIN_USER}:", str(clone)], check=True)
    yield become, clone
    shutil.rmtree(clone, ignore_errors=True)


def run_in(become: list[str], clone: Path, script: str) -> subprocess.CompletedProcess:
    """script in clone, in a clean environment with the distribution's PATH: no pyenv, no uv."""
    env = {"HOME": str(clone.parent), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    # This network re-signs TLS with a CA in the host's bundle: pass the bundle's location on.
    for name in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return subprocess.run(
        [*become, "env", "-i", *(f"{k}={v}" for k, v in env.items()), "bash", "-c", script],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_bootstrap_on_the_distributions_python_makes_a_working_venv(plain_user_clone):
    become, clone = plain_user_clone
    bootstrap = f"PYTHON={DISTRIBUTION_PYTHON} bash scripts/bootstrap.sh run"

    result = run_in(become, clone, bootstrap)

    assert result.returncode == 0, result.stderr
    assert "externally-managed-environment" not in result.stderr
    # Each step says what it does, in one line, and where uv went.
    if not shutil.which("uv", path="/usr/local/bin:/usr/bin:/bin"):  # else that uv is used
        assert "bootstrap: no uv on PATH: installing it into .venv-uv" in result.stderr
    assert "bootstrap: creating .venv" in result.stderr
    imported = run_in(become, clone, ".venv/bin/python -c 'import predict_service, gunicorn'")
    assert imported.returncode == 0, imported.stderr
    # The interpreter itself is left as the distribution shipped it.
    assert run_in(become, clone, f"{DISTRIBUTION_PYTHON} -m uv --version").returncode != 0

    again = run_in(become, clone, bootstrap)
    assert again.returncode == 0, again.stderr
    assert "bootstrap:" not in again.stderr  # nothing to do, nothing said
