"""Static checks of the Dockerfile's promises that hadolint does not know about.

scripts/image-test.sh proves the built image at run time (it needs root and buildah/podman); these
run in a second everywhere and point at the offending instruction when someone edits the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from dockerfile import instructions, python_env, stages

REPO_ROOT = Path(__file__).resolve().parents[2]


def runtime_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def test_base_image_is_a_pinned_patch_release_set_before_the_first_from():
    preamble = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            break
        preamble.append((keyword, arguments))
    args = [arguments for keyword, arguments in preamble if keyword == "ARG"]
    assert len(args) == 1, f"want exactly one ARG before the first FROM, got {args}"
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.12\.\d+-slim-[a-z]+", args[0]), args[0]


def test_every_stage_builds_on_the_python_image_argument():
    froms = [stage[0][1] for stage in stages()]
    assert len(froms) >= 2, "want a multi-stage build"
    for arguments in froms:
        assert arguments.split()[0] == "${PYTHON_IMAGE}", arguments


def test_build_stage_installs_only_runtime_dependencies_from_the_constraints():
    runs = " ".join(arguments for keyword, arguments in stages()[0] if keyword == "RUN")
    assert re.search(r"pip .*install .*-c constraints\.txt \.(\s|$)", runs), runs
    assert ".[" not in runs, "extras (dev, deploy = boto3) must not reach the image"
    assert "-e " not in runs and "--editable" not in runs, "the install must not be editable"


def test_runtime_stage_copies_only_the_venv_and_the_gunicorn_config():
    copies = [arguments for keyword, arguments in runtime_stage() if keyword in ("COPY", "ADD")]
    assert copies, "the runtime stage copies nothing"
    for arguments in copies:
        sources = arguments.split()[:-1]
        from_build = [word for word in sources if word.startswith("--from=")]
        paths = [word for word in sources if not word.startswith("--")]
        expected = ["/opt/venv"] if from_build else ["gunicorn.conf.py"]
        assert paths == expected, arguments


def test_runs_as_a_numeric_non_root_user_set_after_the_last_run():
    keywords = [keyword for keyword, _ in runtime_stage()]
    users = [arguments for keyword, arguments in runtime_stage() if keyword == "USER"]
    assert users == ["10001:10001"]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("EXPOSE", "8000"),
        ("STOPSIGNAL", "SIGTERM"),
    ],
)
def test_port_and_stop_signal(keyword, value):
    assert [a for k, a in runtime_stage() if k == keyword] == [value]


def test_environment_for_a_read_only_root_and_immediate_logs():
    env = " ".join(arguments for keyword, arguments in runtime_stage() if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert re.search(r"PATH=/opt/venv/bin:", env), env


def test_bytecode_is_compiled_at_build_time_at_the_level_the_service_runs_with():
    """-OO at run time (2 MB less per worker), so every .pyc is built at level 2: the venv's in
    the build stage (instead of pip's level-0 ones), the standard library's in the runtime stage
    (the official image has none, and the read-only root cannot cache any)."""
    assert python_env()["PYTHONOPTIMIZE"] == "2"
    build_runs = " ".join(a for k, a in stages()[0] if k == "RUN")
    assert "--no-compile" in build_runs
    # unchecked-hash: valid whatever a build does to file times (the sources never change).
    assert re.search(
        r"compileall .*-o 2 --invalidation-mode unchecked-hash +/opt/venv/lib", build_runs
    )
    runtime_runs = " ".join(a for k, a in runtime_stage() if k == "RUN")
    assert re.search(
        r"compileall .*-o 2 --invalidation-mode unchecked-hash .*get_path\(\"stdlib\"\)",
        runtime_runs,
    )


def test_python_env_reads_the_last_stage_in_either_env_form(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM base AS build\nENV PYTHONOPTIMIZE=1\n"
        "FROM base\n# ENV PYTHONFAULTHANDLER=1\n"
        "ENV PATH=/opt/venv/bin:$PATH \\\n    PYTHONDONTWRITEBYTECODE=1 PYTHONOPTIMIZE=2\n"
        "ENV PYTHONIOENCODING utf-8 strict\n"
    )
    assert python_env(dockerfile) == {"PYTHONOPTIMIZE": "2", "PYTHONIOENCODING": "utf-8 strict"}


def test_healthcheck_is_exec_form_python_against_health_with_a_short_timeout():
    (arguments,) = [a for k, a in runtime_stage() if k == "HEALTHCHECK"]
    options, _, command = arguments.partition("CMD ")
    timeout = re.search(r"--timeout=(\d+)s", options)
    assert timeout and int(timeout.group(1)) <= 5, options
    probe = json.loads(command)  # exec form is a JSON array; shell form would not parse
    assert probe[:2] == ["python", "-c"], probe
    assert "/health" in probe[2] and "127.0.0.1" in probe[2], probe[2]


def test_the_server_is_started_in_exec_form():
    (command,) = [a for k, a in runtime_stage() if k in ("CMD", "ENTRYPOINT")]
    assert json.loads(command)[0] == "gunicorn", command


def test_the_proxy_ca_bundle_is_never_baked_in():
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert "ca-certificates.crt" not in text
    for variable in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        assert variable not in text


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
