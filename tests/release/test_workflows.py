"""The GitHub Actions workflows keep the promises the README makes about them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
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
    runs = [s["run"] for s in job["steps"] if "run" in s]
    # The last step only turns variables/inputs into flags, then hands over to release.sh.
    assert runs[-1].strip().splitlines()[-1] == 'scripts/release.sh "${args[@]}"'
    assert len(runs) == 2  # install boto3, release: no deploy logic in the workflow


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
    environment |= {"REDEPLOY_TAG": "", **env}
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
    assert argv == ["--stack", "predict-api"]
    url = "https://api.example.com/health?probe=1&x=$(touch pwned)"
    result, argv = run_release_step(tmp_path, HEALTH_URL=url)
    assert result.returncode == 0, result.stderr
    assert argv == ["--stack", "predict-api", "--health-url", url]
    assert not (tmp_path / "pwned").exists()


SHA = "0123456789abcdef0123456789abcdef01234567"
MAIN = "refs/heads/main"


def evaluate(expression: str, **context: str | bool) -> bool:
    """Evaluates a job `if:` with the few GitHub expression forms deploy.yml uses (hand-written:
    no maintained Python evaluator of GitHub expressions exists). Anything else fails the test."""
    python = " ".join(expression.split()).replace("!cancelled()", "(not cancelled)")
    python = python.replace("&&", " and ").replace("||", " or ")
    names = {name.replace(".", "_"): name for name in re.findall(r"[a-z_]+(?:\.[a-z_]+)+", python)}
    for safe, name in names.items():
        python = python.replace(name, safe)
    leftover = re.sub(r"'[^']*'|==|!=|[()]|\b(?:and|or|not|cancelled)\b|\b[a-z_]+\b", "", python)
    assert not leftover.strip(), f"unsupported expression syntax: {leftover!r}"
    values = {"cancelled": False} | {key.replace(".", "_"): value for key, value in context.items()}
    assert set(names) <= set(values), f"no value for {set(names) - set(values)}"
    return bool(eval(python, {"__builtins__": {}}, values))  # noqa: S307 (our file, checked above)


def release_runs(event: str, ref: str, tag: str, ci: str, cancelled: bool = False) -> bool:
    condition = load("deploy.yml")["jobs"]["release"]["if"]
    context = {"github.event_name": event, "github.ref": ref, "inputs.tag": tag}
    return evaluate(condition, cancelled=cancelled, **context, **{"needs.ci.result": ci})


def test_manual_dispatch_redeploys_a_full_sha_through_the_same_role():
    deploy = load("deploy.yml")
    tag = deploy["on"]["workflow_dispatch"]["inputs"]["tag"]
    assert tag["type"] == "string" and tag["required"] is False and tag["default"] == ""
    # A redeploy skips CI (the image was tested when it was built); a build never does.
    ci_if = deploy["jobs"]["ci"]["if"]
    assert evaluate(ci_if, **{"github.event_name": "push", "inputs.tag": ""})
    assert evaluate(ci_if, **{"github.event_name": "workflow_dispatch", "inputs.tag": ""})
    assert not evaluate(ci_if, **{"github.event_name": "workflow_dispatch", "inputs.tag": SHA})
    # Builds from main only; a redeploy of an already-built SHA may start on any ref.
    assert release_runs("push", MAIN, "", "success")
    assert release_runs("workflow_dispatch", MAIN, "", "success")
    assert release_runs("workflow_dispatch", MAIN, SHA, "skipped")
    assert release_runs("workflow_dispatch", "refs/heads/feature", SHA, "skipped")
    assert not release_runs("workflow_dispatch", "refs/heads/feature", "", "success")
    assert not release_runs("workflow_dispatch", "refs/tags/v1.0.0", "", "success")
    # Never after a failed, cancelled or unexplained-skipped CI.
    assert not release_runs("push", MAIN, "", "failure")
    assert not release_runs("push", MAIN, "", "skipped")
    assert not release_runs("workflow_dispatch", MAIN, "", "skipped")
    assert not release_runs("push", MAIN, "", "success", cancelled=True)


def test_release_step_turns_the_tag_input_into_no_build_tag(tmp_path):
    result, argv = run_release_step(tmp_path, REDEPLOY_TAG=SHA)
    assert result.returncode == 0, result.stderr
    assert argv == ["--stack", "predict-api", "--no-build", "--tag", SHA]


@pytest.mark.parametrize("bad", ["abc1234", "latest", f"{'a' * 40}; rm -rf /", "A" * 40])
def test_release_step_refuses_a_tag_input_that_is_not_a_full_sha(tmp_path, bad):
    result, argv = run_release_step(tmp_path, REDEPLOY_TAG=bad)
    assert result.returncode == 2
    assert argv is None  # release.sh never ran
    assert result.stdout.strip() == "::error::the tag input must be a full 40-hex commit SHA"
