"""The GitHub Actions workflows keep the promises the README makes about them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/predict-api:image-test"
TIMEOUT = ["--timeout", "1800"]
WORKFLOWS = REPO_ROOT / ".github/workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True: map it back.
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def uses_lines() -> list[tuple[str, str]]:
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(.+)$", line)
            if match:
                found.append((path.name, match.group(1).strip()))
    return found


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_every_action_is_pinned_to_a_commit_with_its_version_in_a_comment():
    remote = [(name, uses) for name, uses in uses_lines() if not uses.startswith("./")]
    assert len(remote) >= 8
    for name, uses in remote:
        assert PINNED.match(uses), f"{name}: {uses}"


def test_every_checkout_drops_its_credentials():
    for path in WORKFLOWS.glob("*.yml"):
        for step in steps(load(path.name)):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, path.name


def test_no_access_keys_anywhere():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_ci_runs_the_test_command_with_read_only_permissions():
    ci = load("ci.yml")
    assert {"pull_request", "push", "workflow_call"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in ci["jobs"].values())
    assert any(".ci/run" in step.get("run", "") for step in steps(ci))


def test_deploy_runs_release_sh_after_ci_with_oidc_one_at_a_time():
    deploy = load("deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"]}
    assert deploy["permissions"] == {}
    assert deploy["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    job = deploy["jobs"]["release"]
    assert job["needs"] == "ci"
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    assert job["environment"] == "production"
    assert job["concurrency"]["cancel-in-progress"] is False
    credentials = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    # The release step only turns variables/inputs into flags, then hands over to release.sh.
    assert release_step()["run"].strip().splitlines()[-1] == 'scripts/release.sh "${args[@]}"'


def test_taskcat_is_manual_and_uses_the_same_oidc_pattern():
    taskcat = load("taskcat.yml")
    assert set(taskcat["on"]) == {"workflow_dispatch"}
    job = taskcat["jobs"]["taskcat"]
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    assert any("taskcat test run" in s.get("run", "") for s in job["steps"])
    credentials = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_TASKCAT_ROLE_ARN }}"


@pytest.mark.parametrize(
    ("workflow", "finding"),
    [
        ("      - uses: actions/checkout@v5\n", "unpinned-uses"),
        ("      - run: echo ${{ github.event.head_commit.message }}\n", "template-injection"),
    ],
)
def test_lint_workflows_fails_on_a_bad_workflow(tmp_path, workflow, finding):
    bad = tmp_path / ".github/workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n" + workflow
    )
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts/lint-workflows.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert finding in result.stdout + result.stderr


def release_step() -> dict:
    job = load("deploy.yml")["jobs"]["release"]
    return next(s for s in job["steps"] if "scripts/release.sh" in s.get("run", ""))


def run_release_step(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list]:
    """Run the step's script as the runner would (bash -e), with a release.sh that records argv."""
    (tmp_path / "scripts").mkdir(exist_ok=True)
    argv_file = tmp_path / "argv"
    fake = tmp_path / "scripts/release.sh"
    fake.write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > "{argv_file}"\n')
    fake.chmod(0o755)
    environment = {"PATH": "/usr/bin:/bin", "STACK_NAME": "predict-api", "HEALTH_URL": ""}
    environment |= {"REDEPLOY_TAG": "", "IMAGE": IMAGE, **env}
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", release_step()["run"]],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    argv = argv_file.read_text().splitlines() if argv_file.exists() else None
    return result, argv


def test_release_step_takes_every_value_from_env_never_from_an_expression():
    step = release_step()
    assert "${{" not in step["run"]
    assert step["env"]["HEALTH_URL"] == "${{ vars.HEALTH_URL }}"
    assert step["env"]["REDEPLOY_TAG"] == "${{ inputs.tag }}"


def test_release_step_passes_health_url_only_when_the_variable_is_set(tmp_path):
    result, argv = run_release_step(tmp_path)
    assert result.returncode == 0, result.stderr
    assert argv == ["--stack", "predict-api", *TIMEOUT, "--image", IMAGE]
    url = "https://api.example.com/health?probe=1&x=$(touch pwned)"
    result, argv = run_release_step(tmp_path, HEALTH_URL=url)
    assert result.returncode == 0, result.stderr
    assert argv == ["--stack", "predict-api", *TIMEOUT, "--health-url", url, "--image", IMAGE]
    assert not (tmp_path / "pwned").exists()


SHA = "0123456789abcdef0123456789abcdef01234567"


def top_level_conjuncts(expression: str) -> list[str]:
    """The parts of a job `if:` joined by `&&` outside any parentheses: each must hold for the job
    to run, whatever the rest says (actionlint checks the syntax; this reads the structure)."""
    parts, depth, current = [], 0, ""
    tokens = re.split(r"(&&|[()])", " ".join(expression.split()))
    for piece in tokens:
        if piece == "&&" and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(piece, 0)
        current += piece
    return [*parts, current.strip()]


def test_deploy_runs_only_from_main_whoever_starts_it():
    """A manual run on another ref would use the production role with that ref's files."""
    deploy = load("deploy.yml")
    for name in ("ci", "release"):
        assert "github.ref == 'refs/heads/main'" in top_level_conjuncts(deploy["jobs"][name]["if"])


def test_manual_dispatch_redeploys_a_full_sha_through_the_same_role():
    tag = load("deploy.yml")["on"]["workflow_dispatch"]["inputs"]["tag"]
    assert tag["type"] == "string" and tag["required"] is False and tag["default"] == ""


def test_release_step_turns_the_tag_input_into_no_build_tag(tmp_path):
    result, argv = run_release_step(tmp_path, REDEPLOY_TAG=SHA)
    assert result.returncode == 0, result.stderr
    assert argv == ["--stack", "predict-api", *TIMEOUT, "--no-build", "--tag", SHA]


@pytest.mark.parametrize("bad", ["abc1234", "latest", f"{'a' * 40}; rm -rf /", "A" * 40])
def test_release_step_refuses_a_tag_input_that_is_not_a_full_sha(tmp_path, bad):
    result, argv = run_release_step(tmp_path, REDEPLOY_TAG=bad)
    assert result.returncode == 2
    assert argv is None  # release.sh never ran
    assert result.stdout.strip() == "::error::the tag input must be a full 40-hex commit SHA"


def test_the_job_outlives_release_sh_by_enough_to_push_and_verify(tmp_path):
    """release.sh gives up after --timeout with its own message; GitHub must not kill it first."""
    _, argv = run_release_step(tmp_path)
    timeout_s = int(argv[argv.index("--timeout") + 1])
    job_minutes = load("deploy.yml")["jobs"]["release"]["timeout-minutes"]
    assert job_minutes * 60 >= timeout_s + 10 * 60


def step_named(workflow: str, job: str, prefix: str) -> dict:
    steps = load(workflow)["jobs"][job]["steps"]
    return next(s for s in steps if s.get("name", "").startswith(prefix))


def run_with_fake_docker(tmp_path: Path, script: str, docker: str, **env: str):
    """Run a step's script with a `docker` that answers from a shell snippet (no daemon here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(f"#!/bin/bash\n{docker}\n")
    (bin_dir / "docker").chmod(0o755)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


LOADED_ID = "sha256:" + "1" * 64
FAKE_DOCKER = f"""case "$*" in
  load*) echo loaded ;;
  *'.Id'*) echo {LOADED_ID} ;;
  *revision*) echo "$FAKE_REVISION" ;;
esac"""


@pytest.mark.parametrize(
    ("image_id", "revision", "error"),
    [
        (LOADED_ID, SHA, None),
        ("sha256:" + "2" * 64, SHA, "is not the tested"),
        (LOADED_ID, "f" * 40, "was built from"),
    ],
)
def test_the_release_pushes_only_the_image_ci_tested_built_from_this_commit(
    tmp_path, image_id, revision, error
):
    step = step_named("deploy.yml", "release", "Load it and check")
    env = {"IMAGE": IMAGE, "IMAGE_ID": image_id, "GITHUB_SHA": SHA, "FAKE_REVISION": revision}
    result = run_with_fake_docker(tmp_path, step["run"], FAKE_DOCKER, **env)
    if error is None:
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert result.returncode == 1 and error in result.stdout


@pytest.mark.parametrize(
    ("result_lines", "kept"),
    [
        ("engine=docker\nshipped-base=true\n", True),
        ("engine=stand-in\nshipped-base=false\n", False),
        ("engine=docker\nshipped-base=false\n", False),
    ],
)
def test_ci_keeps_only_an_image_built_by_docker_on_the_shipped_base(tmp_path, result_lines, kept):
    (tmp_path / ".image-cache").mkdir()
    (tmp_path / ".image-cache/image-test.result").write_text(
        result_lines + f"image={IMAGE}\nimage-id={LOADED_ID}\n"
    )
    (tmp_path / "output").write_text("")
    step = step_named("ci.yml", "test", "Keep the tested image")
    docker = 'printf "%s\\n" "$@" > saved'
    env = {"GITHUB_OUTPUT": str(tmp_path / "output")}
    result = run_with_fake_docker(tmp_path, step["run"], docker, **env)
    if kept:
        assert result.returncode == 0, result.stdout + result.stderr
        assert (tmp_path / "saved").read_text().split() == [
            "save", "--output", f"{tmp_path}/image.tar", IMAGE,
        ]  # fmt: skip
        outputs = (tmp_path / "output").read_text().splitlines()
        assert outputs == [f"image={IMAGE}", f"image-id={LOADED_ID}"]
    else:
        assert result.returncode == 1
        assert not (tmp_path / "saved").exists()
