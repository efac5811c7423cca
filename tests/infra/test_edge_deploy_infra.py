"""The infrastructure deploy says plainly when the deploy will serve plain HTTP (no certificate),
and .taskcat.yml runs the edge as its tests need (deletion protection off, WAF on for https)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import CERTIFICATE_ARN, CFN_DIR, REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "deploy-infra.sh"


def stderr_of_run(params: dict, tmp_path: Path) -> str:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(params))
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://localhost:9", "AWS_REGION": "us-east-1"}
    env.update({"AWS_MAX_ATTEMPTS": "1", "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"})
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    env.pop("AWS_PROFILE", None)
    result = subprocess.run(
        ["bash", str(SCRIPT), "--parameters", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    # Nobody listens on :9: the script stops at its first AWS call, after reading the parameters.
    assert "cannot reach AWS" in result.stderr, result.stderr
    return result.stderr


def test_the_example_parameters_warn_that_the_service_is_plain_http(tmp_path):
    example = json.loads((CFN_DIR / "parameters.example.json").read_text())
    assert example["CertificateArn"] == example["DomainName"] == example["HostedZoneId"] == ""
    stderr = stderr_of_run({**example, "GitHubRepository": "my-org/predict-api"}, tmp_path)
    (warning,) = [line for line in stderr.splitlines() if "warning" in line]
    assert "DomainName and CertificateArn are empty" in warning and "plain HTTP" in warning
    assert "The public edge" in warning  # where the README says how to get a certificate


def test_a_file_without_certificate_arn_warns_for_a_new_stack(tmp_path):
    stderr = stderr_of_run({"GitHubRepository": "my-org/predict-api"}, tmp_path)
    assert "warning: no DomainName nor CertificateArn" in stderr and "plain HTTP" in stderr


def test_a_certificate_means_no_warning(tmp_path):
    stderr = stderr_of_run({"CertificateArn": CERTIFICATE_ARN}, tmp_path)
    assert "warning" not in stderr


@pytest.fixture(scope="module")
def taskcat_tests() -> dict:
    return yaml.safe_load((REPO_ROOT / ".taskcat.yml").read_text())["tests"]


def test_taskcat_can_delete_what_it_creates(taskcat_tests):
    for name, test in taskcat_tests.items():
        assert test["parameters"]["DeletionProtection"] == "false", name


def test_taskcat_runs_the_https_test_behind_waf_and_the_defaults_without(taskcat_tests):
    assert taskcat_tests["https"]["parameters"]["EnableWaf"] == "true"
    assert taskcat_tests["defaults"]["parameters"]["EnableWaf"] == "false"
