"""The boto3 deployer against a real moto_server: outputs, ECR tag check, the change set's
parameters, progress, and the ECS verification."""

from __future__ import annotations

import json
import re
import urllib.request

import boto3
import pytest
from release_tool import registry
from release_tool.deadline import Clock, Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.release import Clients, preflight, run

from tests.release.conftest import make_session, options, stack_parameters
from tests.release.stand_in import (
    ARTIFACTS_BUCKET,
    NEW_TAG,
    OLD_TAG,
    STACK,
    play_cloudformation_for_ecs,
    put_image,
)

REPOSITORY_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/predict-api"  # moto's account
LONG = Deadline(600, Clock())


def test_preflight_resolves_the_stack_outputs(stand_in_stack, capsys):
    found = preflight(Clients.from_session(boto3.session.Session(), None), STACK, Reporter())
    out = capsys.readouterr().out
    assert found["StackId"] == stand_in_stack["StackId"]
    assert "AWS account 123456789012" in out
    assert f"ImageTag now {OLD_TAG}" in out
    assert "repository 123456789012.dkr.ecr.us-east-1.amazonaws.com/predict-api" in out


def test_release_updates_only_image_tag_and_verifies_the_service(
    stand_in_stack, health_server, capsys
):
    put_image(NEW_TAG)
    session, requests = make_session()
    simulated = play_cloudformation_for_ecs(session)

    code = run(Clients.from_session(session, None), options(), Reporter())

    out = capsys.readouterr().out
    assert code == ExitCode.OK
    # The one change set: the previous template, ImageTag set, every other parameter reused.
    assert len(requests) == 1
    request = requests[0]
    assert request["UsePreviousTemplate"] is True
    assert request["ChangeSetType"] == "UPDATE"
    assert set(request["Capabilities"]) == {
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
    }
    by_key = {p["ParameterKey"]: p for p in request["Parameters"]}
    assert by_key["ImageTag"] == {"ParameterKey": "ImageTag", "ParameterValue": NEW_TAG}
    others = {k: v for k, v in by_key.items() if k != "ImageTag"}
    assert set(others) == {"ArtifactsBucketName", "CpuArchitecture", "HealthUrl"}
    assert all(p == {"ParameterKey": k, "UsePreviousValue": True} for k, p in others.items())
    # What moto recorded: the new tag, and the other values as they were (not their Defaults).
    assert stack_parameters() == {
        "ImageTag": NEW_TAG,
        "ArtifactsBucketName": ARTIFACTS_BUCKET,
        "HealthUrl": health_server.url,
        "CpuArchitecture": "X86_64",
    }
    image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/predict-api:{NEW_TAG}"
    assert simulated == [image]
    # Progress: the change set, the stack's events, the verification, the health check.
    assert f"parameter ImageTag: {OLD_TAG} -> {NEW_TAG}" in out
    assert "kept at their previous values: ArtifactsBucketName, CpuArchitecture, HealthUrl" in out
    assert "UPDATE_COMPLETE" in out and "AWS::CloudFormation::Stack" in out
    assert re.search(r"ecs PRIMARY predict-api:\d+ COMPLETED: running 2 pending 0 desired 2", out)
    assert f"runs {image}: rollout COMPLETED, 2/2 tasks running" in out
    assert health_server.hits == ["/health"]
    assert f"released {NEW_TAG} to stack {STACK}" in out


def test_dry_run_shows_the_change_set_and_deletes_it(stand_in_stack, capsys):
    put_image(NEW_TAG)
    session, requests = make_session()

    code = run(Clients.from_session(session, None), options(dry_run=True), Reporter())

    out = capsys.readouterr().out
    cfn = boto3.client("cloudformation")
    assert code == ExitCode.OK
    assert len(requests) == 1
    assert f"parameter ImageTag: {OLD_TAG} -> {NEW_TAG}" in out
    assert "dry run: change set deleted, nothing executed" in out
    assert cfn.list_change_sets(StackName=STACK)["Summaries"] == []
    assert stack_parameters()["ImageTag"] == OLD_TAG


def test_a_tag_missing_from_ecr_is_refused_before_any_change_set(stand_in_stack):
    session, requests = make_session()
    with pytest.raises(ReleaseError, match="is not in ECR repository") as raised:
        run(Clients.from_session(session, None), options(), Reporter())
    assert raised.value.code == ExitCode.IMAGE_NOT_FOUND
    assert raised.value.message.startswith(f"image tag {NEW_TAG} is not in ECR repository")
    assert requests == []
    assert stack_parameters()["ImageTag"] == OLD_TAG


def test_tag_check_sees_present_and_absent_tags(stand_in_stack):
    ecr = boto3.client("ecr")
    assert registry.tag_exists(ecr, "predict-api", OLD_TAG) is True
    assert registry.tag_exists(ecr, "predict-api", NEW_TAG) is False


def test_verification_fails_when_the_service_still_runs_the_old_image(stand_in_stack, capsys):
    """No simulation here: moto leaves the service alone, exactly like a stack whose ImageTag does
    not reach the task definition would. The deployer must not report success."""
    put_image(NEW_TAG)
    session, _ = make_session()
    with pytest.raises(ReleaseError, match="PRIMARY deployment runs") as raised:
        run(Clients.from_session(session, None), options(), Reporter())
    assert raised.value.code == ExitCode.VERIFY_FAILED
    assert raised.value.message == (
        f"PRIMARY deployment runs {REPOSITORY_URI}:{OLD_TAG}, expected {REPOSITORY_URI}:{NEW_TAG}"
    )


def test_the_current_tag_is_verified_without_a_change_set(stand_in_stack, health_server, capsys):
    session, requests = make_session()
    code = run(Clients.from_session(session, None), options(tag=OLD_TAG), Reporter())
    assert code == ExitCode.OK
    assert requests == []
    assert "stack already runs ImageTag" in capsys.readouterr().out
    assert health_server.hits == ["/health"]


def test_a_failing_health_check_fails_the_release(stand_in_stack, health_server):
    health_server.status = 503
    health_server.body = {"status": "starting"}
    session, _ = make_session()
    with pytest.raises(ReleaseError, match="failed after 2 attempts") as raised:
        run(Clients.from_session(session, None), options(tag=OLD_TAG), Reporter())
    assert raised.value.code == ExitCode.HEALTH_FAILED
    assert raised.value.message == (
        f"GET {health_server.url}/health failed after 2 attempts: HTTP 503"
    )
    assert len(health_server.hits) == 2


def test_a_missing_stack_is_reported(aws_env):
    with pytest.raises(ReleaseError, match="not found") as raised:
        preflight(Clients.from_session(boto3.session.Session(), None), "nope", Reporter())
    assert raised.value.code == ExitCode.STACK_NOT_READY
    assert raised.value.message.startswith("stack 'nope' not found in us-east-1")


def test_push_logs_in_with_the_ecr_token_on_stdin_then_tags_and_pushes(stand_in_stack):
    calls = []

    def fake_run(argv, **kwargs):
        calls.append((argv, kwargs.get("input")))
        if argv[1] == "push":
            put_image(argv[2].rsplit(":", 1)[1])
        return registry.subprocess.CompletedProcess(argv, 0, stdout="")

    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/predict-api"
    ecr = boto3.client("ecr")
    registry.push(ecr, "podman", f"predict-api:{NEW_TAG}", uri, NEW_TAG, Reporter(), LONG, fake_run)
    registry.require_tag(boto3.client("ecr"), "predict-api", NEW_TAG)
    login, tag, push = calls
    # moto's token decodes to AWS:<password>; the password goes on stdin, never into argv
    assert login[0] == [
        "podman",
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        uri.split("/")[0],
    ]
    assert login[1] and login[1] not in " ".join(login[0])
    assert tag == (["podman", "tag", f"predict-api:{NEW_TAG}", f"{uri}:{NEW_TAG}"], None)
    assert push == (["podman", "push", f"{uri}:{NEW_TAG}"], None)


def test_a_failed_push_is_reported_with_the_builders_last_words(stand_in_stack):
    def failing_run(argv, **_kwargs):
        out = "denied: not authorized" if argv[1] == "push" else ""
        return registry.subprocess.CompletedProcess(argv, 1 if argv[1] == "push" else 0, out)

    with pytest.raises(ReleaseError, match="failed") as raised:
        ecr = boto3.client("ecr")
        registry.push(ecr, "docker", "x:1", "1.dkr.ecr/r", NEW_TAG, Reporter(), LONG, failing_run)
    assert raised.value.code == ExitCode.BUILD_OR_PUSH_FAILED
    assert raised.value.message == "docker push failed (exit 1): denied: not authorized"


def set_scan_result(endpoint: str, tag: str, counts: dict[str, int]) -> None:
    """moto's own way to configure DescribeImageScanFindings (its Moto API), after a scan started
    as scan-on-push starts one."""
    boto3.client("ecr").start_image_scan(repositoryName="predict-api", imageId={"imageTag": tag})
    result = {
        "registryId": "123456789012",
        "repositoryName": "predict-api",
        "imageId": {"imageTag": tag},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed."},
        "imageScanFindings": {
            "findingSeverityCounts": counts,
            "findings": [{"name": "CVE-2026-1234", "severity": "CRITICAL"}],
        },
    }
    body = json.dumps({"results": [result], "region": "us-east-1"}).encode()
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/ecr/scan-finding-results", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_an_image_with_critical_findings_is_not_deployed(stand_in_stack, aws_env, capsys):
    put_image(NEW_TAG)
    set_scan_result(aws_env, NEW_TAG, {"CRITICAL": 1, "LOW": 3})
    session, requests = make_session()
    with pytest.raises(ReleaseError, match="CRITICAL finding") as raised:
        run(Clients.from_session(session, None), options(), Reporter())
    assert raised.value.code == ExitCode.CRITICAL_FINDINGS
    assert raised.value.details == ["CRITICAL: CVE-2026-1234"]
    assert requests == []  # no change set
    assert stack_parameters()["ImageTag"] == OLD_TAG
    assert "scan COMPLETE: CRITICAL 1, LOW 3" in capsys.readouterr().out


def test_critical_findings_can_be_overridden(stand_in_stack, aws_env, capsys):
    put_image(NEW_TAG)
    set_scan_result(aws_env, NEW_TAG, {"CRITICAL": 1})
    session, requests = make_session()
    code = run(
        Clients.from_session(session, None),
        options(dry_run=True, allow_critical_findings=True),
        Reporter(),
    )
    assert code == ExitCode.OK
    assert len(requests) == 1
    assert "--allow-critical-findings: deploying despite 1 CRITICAL" in capsys.readouterr().out


def test_an_image_without_a_scan_is_deployed_with_a_note(stand_in_stack, capsys):
    put_image(NEW_TAG)  # no scan started: moto answers ScanNotFoundException, as AWS does
    session, _ = make_session()
    assert run(Clients.from_session(session, None), options(dry_run=True), Reporter()) == 0
    assert f"no scan result for {NEW_TAG} (ScanNotFoundException" in capsys.readouterr().out
