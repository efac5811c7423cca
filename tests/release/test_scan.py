"""The scan gate against moto's ECR and the Inspector stand-in: the registry's scan type decides
who is asked, an image index is refused before any wait, and an image the scanner does not know
is refused unless the release lets it through knowingly."""

from __future__ import annotations

import io
import json
import urllib.request

import boto3
import pytest
from release_tool import cli, scan
from release_tool.deadline import Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.release import Clients, run

from tests.release.conftest import FakeClock, make_session, options, stack_parameters
from tests.release.inspector_stand_in import (  # noqa: F401
    SCANNED,
    ImageScan,
    finding,
    inspector_fixture,
)
from tests.release.stand_in import (
    NEW_TAG,
    OLD_TAG,
    play_cloudformation_for_ecs,
    put_image,
    use_enhanced_scanning,
)

REPOSITORY = "predict-api"


@pytest.fixture
def repository(aws_env) -> str:
    boto3.client("ecr").create_repository(repositoryName=REPOSITORY)
    return aws_env


def pushed(inspector_state: ImageScan, tag: str = NEW_TAG) -> ImageScan:
    """Push tag to moto's ECR and tell Inspector about that image (repository, tag, digest)."""
    put_image(tag)
    ecr = boto3.client("ecr")
    image = ecr.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])
    inspector_state.repository, inspector_state.tag = REPOSITORY, tag
    inspector_state.digest = image["imageDetails"][0]["imageDigest"]
    return inspector_state


def check(seconds: float = 1800, **kwargs) -> tuple[str, FakeClock]:
    """scan.check on NEW_TAG with a fake clock: (printed lines, clock); raises ReleaseError."""
    out, clock = io.StringIO(), FakeClock()
    allow_critical = kwargs.pop("allow_critical", False)
    ecr, deadline = boto3.client("ecr"), Deadline(seconds, clock)
    scan.check(ecr, REPOSITORY, NEW_TAG, Reporter(out), deadline, allow_critical, **kwargs)
    return out.getvalue(), clock


# --- an image index -------------------------------------------------------------------------

# What `docker build` pushes on Docker's containerd image store with BuildKit's default provenance
# attestation: an OCI index of the image and an attestation manifest for "unknown/unknown".
# moby/buildkit#3499: ECR's basic scan fails on it; aws/containers-roadmap#1683: Inspector scans
# the children, not the tag.
IMAGE_INDEX = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "1" * 64,
            "size": 1000,
            "platform": {"architecture": "amd64", "os": "linux"},
        },
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "2" * 64,
            "size": 500,
            "annotations": {
                "vnd.docker.reference.digest": "sha256:" + "1" * 64,
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        },
    ],
}


def test_an_image_index_is_refused_before_the_scan_gate_waits(stand_in_stack, capsys):
    boto3.client("ecr").put_image(
        repositoryName=REPOSITORY, imageManifest=json.dumps(IMAGE_INDEX), imageTag=NEW_TAG
    )
    session, change_sets = make_session()
    with pytest.raises(ReleaseError, match="is an image index") as raised:
        run(Clients.from_session(session, None), options(), Reporter())
    assert raised.value.code == ExitCode.BUILD_OR_PUSH_FAILED == 7
    assert "--provenance=false --sbom=false" in raised.value.message
    assert raised.value.details == [
        f"aws ecr batch-delete-image --repository-name {REPOSITORY} --image-ids imageTag={NEW_TAG}"
    ]
    assert "reading the ECR scan" not in capsys.readouterr().out  # no wait for a scan
    assert change_sets == []
    assert stack_parameters()["ImageTag"] == OLD_TAG


# --- basic scanning: an image ECR's scanner does not support --------------------------------


def basic_scan_ended(endpoint: str, status: str, description: str) -> None:
    """moto's own way to set what DescribeImageScanFindings answers (its Moto API)."""
    boto3.client("ecr").start_image_scan(repositoryName=REPOSITORY, imageId={"imageTag": NEW_TAG})
    result = {
        "registryId": "123456789012",
        "repositoryName": REPOSITORY,
        "imageId": {"imageTag": NEW_TAG},
        "imageScanStatus": {"status": status, "description": description},
        "imageScanFindings": {"findingSeverityCounts": {}, "findings": []},
    }
    body = json.dumps({"results": [result], "region": "us-east-1"}).encode()
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/ecr/scan-finding-results", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


# ECR's answer for a base OS its basic scanner does not know (ECR user guide, "Troubleshooting
# image scanning": UnsupportedImageError; aws/containers-roadmap#2342: Ubuntu 24.04 on release).
UNSUPPORTED = "The operating system and/or package manager are not supported."


def test_an_unsupported_image_is_refused_in_one_line_saying_why(stand_in_stack, aws_env, capsys):
    put_image(NEW_TAG)
    basic_scan_ended(aws_env, "UNSUPPORTED_IMAGE", UNSUPPORTED)
    session, change_sets = make_session()
    with pytest.raises(ReleaseError, match="does not know the image's base OS") as raised:
        run(Clients.from_session(session, None), options(), Reporter())
    assert raised.value.code == ExitCode.PREREQUISITE
    assert "--allow-unsupported-image" in raised.value.message
    assert "\n" not in raised.value.message
    assert raised.value.details == [UNSUPPORTED]
    assert change_sets == []
    assert stack_parameters()["ImageTag"] == OLD_TAG


def test_an_unsupported_image_passes_when_allowed_knowingly(repository):
    put_image(NEW_TAG)
    basic_scan_ended(repository, "UNSUPPORTED_IMAGE", UNSUPPORTED)
    printed, _ = check(allow_unsupported=True)
    assert "scan UNSUPPORTED_IMAGE" in printed
    assert "findings not checked (--allow-unsupported-image)" in printed


def test_allowing_unsupported_images_does_not_let_a_failed_scan_through(repository):
    put_image(NEW_TAG)
    basic_scan_ended(repository, "FAILED", "The scan failed.")
    with pytest.raises(ReleaseError, match=f"the ECR scan of {NEW_TAG} ended FAILED") as raised:
        check(allow_unsupported=True)
    assert raised.value.code == ExitCode.PREREQUISITE


# --- enhanced scanning (Amazon Inspector) ----------------------------------------------------


def test_enhanced_scanning_waits_for_inspector_and_refuses_critical_findings(
    stand_in_stack, inspector, capsys
):
    use_enhanced_scanning()
    pushed(inspector).coverage = [
        None,  # Inspector has not picked the image up yet
        ("ACTIVE", "PENDING_INITIAL_SCAN"),
        ("ACTIVE", "SUCCESSFUL"),
    ]
    inspector.findings = [
        finding("CVE-2026-0001", "CRITICAL"),
        finding("CVE-2026-0002", "HIGH"),
        finding("CVE-2026-0003", "HIGH"),
        finding("CVE-2026-0004", "CRITICAL", status="CLOSED"),  # fixed: not counted
        finding("CVE-2026-0005", "CRITICAL"),  # on the second page
    ]
    session, change_sets = make_session()
    with pytest.raises(ReleaseError, match="has 2 CRITICAL finding") as raised:
        run(Clients.from_session(session, None), options(), Reporter())
    assert raised.value.code == ExitCode.CRITICAL_FINDINGS == 14
    assert raised.value.details == ["CRITICAL: CVE-2026-0001", "CRITICAL: CVE-2026-0005"]
    out = capsys.readouterr().out
    assert "scan PENDING_INITIAL_SCAN; waiting" in out
    assert "scan ACTIVE: CRITICAL 2, HIGH 2" in out
    assert change_sets == []
    assert stack_parameters()["ImageTag"] == OLD_TAG
    operations = [operation for operation, _ in inspector.calls]
    assert operations == ["ListCoverage"] * 3 + ["ListFindings"] * 2  # both pages read


def release_cli(monkeypatch) -> int:
    """`scripts/release.sh --no-build --tag NEW_TAG` against moto and the Inspector stand-in."""
    monkeypatch.setenv("RELEASE_POLL_SECONDS", "0")
    session = boto3.session.Session()
    play_cloudformation_for_ecs(session)
    return cli.main(["--no-build", "--tag", NEW_TAG], session=session)


@pytest.mark.parametrize("frequency", ["CONTINUOUS_SCAN", "SCAN_ON_PUSH"])
def test_a_repository_scanned_on_push_counts_as_scanned_as_a_continuous_one(
    stand_in_stack, inspector, monkeypatch, capsys, frequency
):
    """Inspector's coverage of an image scanned once on push reads INACTIVE,
    SCAN_FREQUENCY_SCAN_ON_PUSH (the stand-in maps ECR's ScanFrequency enum to it): its findings
    are judged like a continuously scanned image's."""
    use_enhanced_scanning(frequency)
    pushed(inspector).coverage = [SCANNED]
    inspector.findings = [finding("CVE-2026-0001", "CRITICAL"), finding("CVE-2026-0002", "HIGH")]
    assert release_cli(monkeypatch) == ExitCode.CRITICAL_FINDINGS
    err = capsys.readouterr().err
    assert f"image {NEW_TAG} has 1 CRITICAL finding(s)" in err
    assert "CRITICAL: CVE-2026-0001" in err
    assert stack_parameters()["ImageTag"] == OLD_TAG

    inspector.findings = [finding("CVE-2026-0002", "HIGH")]
    assert release_cli(monkeypatch) == ExitCode.OK
    out = capsys.readouterr().out
    assert "HIGH 1" in out
    assert f"released {NEW_TAG} to stack predict-api" in out


def test_an_image_due_its_scan_on_push_is_awaited_not_refused(repository, inspector):
    use_enhanced_scanning("SCAN_ON_PUSH")
    # Covered, scanned once on push, but no scan time yet: the scan is still to come.
    pushed(inspector).coverage = [("INACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH"), SCANNED]
    inspector.findings = [finding("CVE-2026-0002", "HIGH")]
    printed, clock = check()
    assert "scan SCAN_FREQUENCY_SCAN_ON_PUSH; waiting" in printed
    assert "scan COMPLETE (scanned once, on push): HIGH 1" in printed
    assert clock.sleeps == [scan.POLL_SECONDS]


def test_a_repository_no_rule_scans_is_a_note(repository, inspector):
    use_enhanced_scanning("MANUAL")
    pushed(inspector).coverage = [SCANNED]  # what Inspector says for it: SCAN_FREQUENCY_MANUAL
    printed, _ = check()
    assert f"Inspector does not scan {REPOSITORY} (SCAN_FREQUENCY_MANUAL)" in printed


def test_enhanced_scanning_with_no_critical_finding_passes(repository, inspector):
    use_enhanced_scanning()
    pushed(inspector).coverage = [("ACTIVE", "SUCCESSFUL")]
    inspector.findings = [finding("CVE-2026-0002", "HIGH")]
    printed, clock = check()
    assert "scan ACTIVE: HIGH 1" in printed
    assert clock.sleeps == []


def test_the_wait_for_inspector_to_start_is_longer_than_basic_scannings_minute(
    repository, inspector
):
    use_enhanced_scanning()
    pushed(inspector).coverage = [None] * 30 + [("ACTIVE", "SUCCESSFUL")]  # 5 minutes
    printed, clock = check()
    assert "scan ACTIVE: no findings" in printed
    assert sum(clock.sleeps) == 300


def test_inspector_never_starting_is_refused_after_its_wait(repository, inspector):
    use_enhanced_scanning()
    pushed(inspector).coverage = [None]
    limit = scan.SCAN_START_SECONDS["ENHANCED"]
    with pytest.raises(ReleaseError, match=f"no Inspector scan of {NEW_TAG} after {limit} s"):
        check()


def test_the_wait_for_inspector_stops_at_the_timeout(repository, inspector):
    use_enhanced_scanning()
    pushed(inspector).coverage = [None]
    with pytest.raises(ReleaseError, match="--timeout 120 s reached: no Inspector scan") as raised:
        check(seconds=120)
    assert raised.value.code == ExitCode.TIMEOUT


def test_enhanced_scanning_refuses_an_os_inspector_does_not_support(repository, inspector):
    """Inspector's coverage says INACTIVE / UNSUPPORTED_OS (API_ScanStatus) for such a base."""
    use_enhanced_scanning()
    pushed(inspector).coverage = [("INACTIVE", "UNSUPPORTED_OS")]
    with pytest.raises(ReleaseError, match="ended UNSUPPORTED_OS: the scanner does not know"):
        check()
    printed, _ = check(allow_unsupported=True)
    assert "findings not checked (--allow-unsupported-image)" in printed


def test_a_repository_inspector_does_not_scan_is_a_note(repository, inspector):
    use_enhanced_scanning()
    pushed(inspector).coverage = [("INACTIVE", "SCAN_FREQUENCY_MANUAL")]
    printed, _ = check()
    assert f"Inspector does not scan {REPOSITORY} (SCAN_FREQUENCY_MANUAL)" in printed
    assert [operation for operation, _ in inspector.calls] == ["ListCoverage"]


@pytest.mark.parametrize("operation", ["ListCoverage", "ListFindings"])
def test_inspector_unreadable_names_the_permission_to_add(repository, inspector, operation):
    use_enhanced_scanning()
    pushed(inspector).coverage = [("ACTIVE", "SUCCESSFUL")]
    inspector.denied = {operation}
    with pytest.raises(ReleaseError, match=f"allow inspector2:{operation}") as raised:
        check()
    assert raised.value.code == ExitCode.PREREQUISITE
    assert "cannot read the Inspector scan" in raised.value.message


def test_basic_scanning_does_not_ask_inspector(repository, inspector):
    put_image(NEW_TAG)
    printed, _ = check()
    assert "no scan result" in printed
    assert inspector.calls == []
