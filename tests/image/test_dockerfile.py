"""The Dockerfile's promises that no built image can show, and the helper that reads it.

What the image does (user, ports, health check, labels, read-only root, bytecode, contents) is
proven on the built image by scripts/image-test.sh; these cover what a build cannot tell apart:
which base ships, and what the builder is allowed to see.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.image.conftest import instructions, python_env

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_base_is_a_python_3_14_patch_release_pinned_by_digest():
    """A tag alone can be rebuilt under the same name; the digest fixes the bytes, and the
    patch tag says which Python they are (the service's tests run on 3.14 for this)."""
    bases = {arguments.split()[0] for keyword, arguments in instructions() if keyword == "FROM"}
    assert len(bases) == 1, f"both stages on one base, written out (Dependabot reads FROM): {bases}"
    (base,) = bases
    assert re.fullmatch(r"python:3\.14\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}", base), base


def test_python_env_reads_the_last_stage_in_either_env_form(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM base AS build\nENV PYTHONOPTIMIZE=1\n"
        "FROM base\n# ENV PYTHONFAULTHANDLER=1\n"
        "ENV PATH=/opt/venv/bin:$PATH \\\n    PYTHONDONTWRITEBYTECODE=1 PYTHONOPTIMIZE=2\n"
        "ENV PYTHONIOENCODING utf-8 strict\n"
    )
    assert python_env(dockerfile) == {"PYTHONOPTIMIZE": "2", "PYTHONIOENCODING": "utf-8 strict"}


def test_dockerignore_is_an_allow_list_without_tests_or_environments():
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert patterns[0] == "*", "start by ignoring everything, then allow what the build needs"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    assert not allowed & {"tests", ".git", ".venv", ".image-cache", "scripts", "cloudformation"}
    needed = {"constraints.txt", "setup.cfg", "pyproject.toml", "predict_service"}
    copied = needed | {"README.md", "gunicorn.conf.py"}
    assert copied <= allowed, f"the Dockerfile needs {sorted(copied - allowed)}"
