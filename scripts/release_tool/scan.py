"""The pushed image's vulnerability scan: wait for it (bounded by --timeout) and refuse CRITICAL
findings, an image the scanner does not support, or a scan that failed.

The registry's scanning configuration (ecr:GetRegistryScanningConfiguration) says who scans:
- BASIC: ECR itself; DescribeImageScanFindings reports IN_PROGRESS then COMPLETE, and
  findingSeverityCounts counts all findings whatever the page size.
- ENHANCED: Amazon Inspector; its coverage (inspector2:ListCoverage) says whether the image is
  scanned yet (a registry rule's scan frequency CONTINUOUS_SCAN or SCAN_ON_PUSH; MANUAL: never),
  its findings (inspector2:ListFindings) are read by image digest. ECR's user guide
  lists both permissions ("IAM permissions required for enhanced scanning")."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from release_tool.deadline import Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter

DONE = {"COMPLETE", "ACTIVE"}
RUNNING = {"IN_PROGRESS", "PENDING"}
POLL_SECONDS = 10
# How long a scan may take to appear after the push, per scan type (always within --timeout).
# Basic scan on push starts moments after the push; until then ECR answers ScanNotFoundException,
# which must not pass for "scanning off". Inspector takes minutes to pick up a new image.
SCAN_START_SECONDS = {"BASIC": 60, "ENHANCED": 900}
SHOWN_FINDINGS = 5
UNCHECKED = "--allow-critical-findings to deploy it unchecked"
UNSUPPORTED_FLAG = "--allow-unsupported-image"
# Inspector coverage reasons meaning "no scanner for this image" (API_ScanStatus).
UNSUPPORTED_REASONS = {"UNSUPPORTED_OS", "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_CONFIG_FILE"}
# Inspector coverage reasons meaning "this repository is not scanned" (no scan filter matches it).
NOT_SCANNED_REASONS = {"SCAN_FREQUENCY_MANUAL", "EXCLUDED_BY_TAG"}
# A repository whose registry rule scans on push (ECR's SCAN_ON_PUSH) rather than continuously: the
# image is scanned once, then its coverage reads INACTIVE with this reason (API_ScanStatus: "scanned
# one time"). Its findings count as CONTINUOUS_SCAN's do, once Inspector says when it scanned.
SCANNED_ONCE_REASON = "SCAN_FREQUENCY_SCAN_ON_PUSH"


def _error(error: ClientError) -> tuple[str, str]:
    err = error.response.get("Error", {})
    return err.get("Code", "?"), f"{err.get('Code')}: {err.get('Message')}"


def scan_type(ecr: Any) -> str:
    """BASIC or ENHANCED, as the registry's scanning configuration says."""
    found = ecr.get_registry_scanning_configuration()
    return (found.get("scanningConfiguration") or {}).get("scanType") or "BASIC"


def _critical_names(findings: dict) -> list[str]:
    basic = [f.get("name", "?") for f in findings.get("findings") or []]
    basic_severity = [f.get("severity") for f in findings.get("findings") or []]
    names = [n for n, s in zip(basic, basic_severity, strict=True) if s == "CRITICAL"]
    for finding in findings.get("enhancedFindings") or []:
        if finding.get("severity") == "CRITICAL":
            names.append(_inspector_name(finding))
    return names


def _inspector_name(finding: dict) -> str:
    details = finding.get("packageVulnerabilityDetails") or {}
    return details.get("vulnerabilityId") or finding.get("title", "?")


def _scans_on_push(ecr: Any, repository: str) -> bool:
    repositories = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    return bool(repositories[0].get("imageScanningConfiguration", {}).get("scanOnPush"))


def check(
    ecr: Any,
    repository: str,
    tag: str,
    reporter: Reporter,
    deadline: Deadline,
    allow_critical: bool,
    *,
    allow_unsupported: bool = False,
    inspector: Any = None,
) -> None:
    """Return when the image may be deployed; else raise ReleaseError.

    allow_critical deploys whatever the scan says (or when there is none); allow_unsupported
    deploys an image the scanner cannot scan (its base OS is unknown to it), nothing else.
    inspector: an inspector2 client, needed with enhanced scanning (default: one made from the
    default boto3 session in the registry's region)."""
    reporter.step(f"reading the ECR scan of {tag}")
    try:
        kind = scan_type(ecr)
    except ClientError as error:
        _, problem = _error(error)
        if allow_critical:
            reporter.info(f"registry scan type unknown ({problem}); findings not checked")
            return
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            f"cannot read the registry's scan type ({problem}): allow "
            f"ecr:GetRegistryScanningConfiguration, or pass {UNCHECKED}",
        ) from None
    if kind == "ENHANCED":
        if inspector is None:
            import boto3

            inspector = boto3.session.Session().client(
                "inspector2", region_name=ecr.meta.region_name
            )
        gate = _EnhancedScan(ecr, inspector, repository, tag, reporter, deadline)
        gate.check(allow_critical, allow_unsupported)
        return
    _check_basic(ecr, repository, tag, reporter, deadline, allow_critical, allow_unsupported)


def _refuse_unfinished(
    tag: str, status: str, why: str, allow_critical: bool, allow_unsupported: bool, reporter
) -> None:
    """A scan that ended without findings to judge: FAILED, UNSUPPORTED_IMAGE, ..."""
    unsupported = status in ("UNSUPPORTED_IMAGE", *UNSUPPORTED_REASONS)
    if allow_critical or (unsupported and allow_unsupported):
        flag = (
            UNSUPPORTED_FLAG if unsupported and allow_unsupported else "--allow-critical-findings"
        )
        reporter.info(f"scan {status} ({why}); findings not checked ({flag})")
        return
    if unsupported:
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            f"the scan of {tag} ended {status}: the scanner does not know the image's base OS "
            f"(or its format), so nothing vouches for it; nothing was deployed; use a base the "
            f"scanner supports, or pass {UNSUPPORTED_FLAG} to deploy it unscanned",
            details=[why] if why else [],
        )
    raise ReleaseError(
        ExitCode.PREREQUISITE,
        f"the ECR scan of {tag} ended {status} ({why}): nothing was deployed; pass {UNCHECKED}",
    )


def _check_basic(
    ecr: Any,
    repository: str,
    tag: str,
    reporter: Reporter,
    deadline: Deadline,
    allow_critical: bool,
    allow_unsupported: bool,
) -> None:
    shown = None
    started = deadline.clock.monotonic()
    while True:
        try:
            found = ecr.describe_image_scan_findings(
                repositoryName=repository, imageId={"imageTag": tag}, maxResults=100
            )
        except ClientError as error:
            code, problem = _error(error)
            not_found = code == "ScanNotFoundException"
            if allow_critical or (not_found and not _scans_on_push(ecr, repository)):
                # Scanning is off for this repository (a choice made in its template): say so.
                reporter.info(f"no scan result for {tag} ({problem}); findings not checked")
                return
            if not_found:
                _await_start(started, deadline, reporter, tag, repository, "BASIC")
                continue
            # Unreadable is not clean: refuse rather than skip the gate silently.
            raise ReleaseError(
                ExitCode.PREREQUISITE,
                f"cannot read the ECR scan of {tag} ({problem}): allow "
                f"ecr:DescribeImageScanFindings on the repository, or pass {UNCHECKED}",
            ) from None
        status = (found.get("imageScanStatus") or {}).get("status", "?")
        if status in DONE:
            break
        if status not in RUNNING:
            description = (found.get("imageScanStatus") or {}).get("description", "")
            _refuse_unfinished(
                tag, status, description, allow_critical, allow_unsupported, reporter
            )
            return
        shown = _await_scan(deadline, reporter, tag, status, shown, repository)
    findings = found.get("imageScanFindings") or {}
    counts = findings.get("findingSeverityCounts") or {}
    _judge(tag, status, counts, _critical_names(findings), allow_critical, reporter)


def _await_start(
    started: float, deadline: Deadline, reporter: Reporter, tag: str, repository: str, kind: str
) -> None:
    """Sleep once while a scan may still appear; refuse once it should have."""
    waited = deadline.clock.monotonic() - started
    scanner = "Inspector" if kind == "ENHANCED" else "ECR"
    if waited >= SCAN_START_SECONDS[kind]:
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            f"no {scanner} scan of {tag} after {waited:.0f} s although {repository} scans on "
            f"push: nothing was deployed; start one (aws ecr start-image-scan) or pass "
            f"{UNCHECKED}",
        )
    if deadline.expired():
        raise deadline.timed_out(f"no {scanner} scan of {tag} yet; nothing was deployed", None)
    reporter.info(f"no scan of {tag} yet; {repository} scans on push ({scanner}): waiting")
    deadline.sleep(POLL_SECONDS)


def _await_scan(
    deadline: Deadline, reporter: Reporter, tag: str, status: str, shown: str | None, repository
) -> str:
    if deadline.expired():
        raise deadline.timed_out(
            f"the ECR scan of {tag} is still {status}; nothing was deployed",
            f"aws ecr describe-image-scan-findings --repository-name {repository} "
            f"--image-id imageTag={tag}",
        )
    if status != shown:
        reporter.info(f"scan {status}; waiting (up to {deadline.remaining():.0f} s)")
    else:
        reporter.info(f"scan still {status}")
    deadline.sleep(POLL_SECONDS)
    return status


def _judge(
    tag: str,
    status: str,
    counts: dict[str, int],
    critical_names: list[str],
    allow_critical: bool,
    reporter: Reporter,
) -> None:
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no findings"
    reporter.info(f"scan {status}: {summary}")
    critical = counts.get("CRITICAL", 0)
    if not critical:
        return
    if allow_critical:
        reporter.info(f"--allow-critical-findings: deploying despite {critical} CRITICAL")
        return
    raise ReleaseError(
        ExitCode.CRITICAL_FINDINGS,
        f"image {tag} has {critical} CRITICAL finding(s) in its ECR scan; not deployed: update "
        "the affected packages and release again, or pass --allow-critical-findings",
        details=[f"CRITICAL: {name}" for name in critical_names[:SHOWN_FINDINGS]],
    )


class _EnhancedScan:
    """Inspector's view of one image: coverage (is it scanned yet?) and its active findings."""

    def __init__(self, ecr, inspector, repository, tag, reporter, deadline) -> None:
        self.ecr, self.inspector = ecr, inspector
        self.repository, self.tag = repository, tag
        self.reporter, self.deadline = reporter, deadline

    def _refuse_unreadable(self, problem: str, action: str) -> ReleaseError:
        # Unreadable is not clean: refuse rather than skip the gate silently.
        return ReleaseError(
            ExitCode.PREREQUISITE,
            f"cannot read the Inspector scan of {self.tag} ({problem}): the registry uses "
            f"enhanced scanning; allow {action}, or pass {UNCHECKED}",
        )

    def _coverage(self) -> dict | None:
        equals = lambda value: [{"comparison": "EQUALS", "value": value}]  # noqa: E731
        found = self.inspector.list_coverage(
            filterCriteria={
                "resourceType": equals("AWS_ECR_CONTAINER_IMAGE"),
                "ecrRepositoryName": equals(self.repository),
                "ecrImageTags": equals(self.tag),
            }
        )
        covered = found.get("coveredResources") or []
        return covered[0] if covered else None

    def _findings(self, digest: str) -> list[dict]:
        equals = lambda value: [{"comparison": "EQUALS", "value": value}]  # noqa: E731
        pages = self.inspector.get_paginator("list_findings").paginate(
            filterCriteria={
                "ecrImageRepositoryName": equals(self.repository),
                "ecrImageHash": equals(digest),
                "findingStatus": equals("ACTIVE"),
            }
        )
        return [finding for page in pages for finding in page.get("findings") or []]

    def check(self, allow_critical: bool, allow_unsupported: bool) -> None:
        shown = None
        started = self.deadline.clock.monotonic()
        while True:
            try:
                covered = self._coverage()
            except ClientError as error:
                if allow_critical:
                    self.reporter.info(f"no Inspector coverage ({_error(error)[1]}); not checked")
                    return
                raise self._refuse_unreadable(_error(error)[1], "inspector2:ListCoverage") from None
            if covered is None:
                _await_start(
                    started, self.deadline, self.reporter, self.tag, self.repository, "ENHANCED"
                )
                continue
            scan_status = covered.get("scanStatus") or {}
            code, reason = scan_status.get("statusCode", "?"), scan_status.get("reason", "?")
            if code == "ACTIVE" and reason == "SUCCESSFUL":
                break
            if reason == SCANNED_ONCE_REASON and covered.get("lastScannedAt"):
                break
            if code == "INACTIVE" and reason in NOT_SCANNED_REASONS:
                self.reporter.info(
                    f"Inspector does not scan {self.repository} ({reason}); findings not checked"
                )
                return
            if code == "INACTIVE" and reason != SCANNED_ONCE_REASON:  # else: its one scan is due
                why = f"Inspector coverage INACTIVE, {reason}"
                _refuse_unfinished(
                    self.tag, reason, why, allow_critical, allow_unsupported, self.reporter
                )
                return
            shown = _await_scan(
                self.deadline, self.reporter, self.tag, reason, shown, self.repository
            )
        digest = _digest(self.ecr, self.repository, self.tag)
        try:
            findings = self._findings(digest)
        except ClientError as error:
            if allow_critical:
                self.reporter.info(f"no Inspector findings ({_error(error)[1]}); not checked")
                return
            raise self._refuse_unreadable(_error(error)[1], "inspector2:ListFindings") from None
        counts = dict(Counter(f.get("severity", "UNTRIAGED") for f in findings))
        critical = [_inspector_name(f) for f in findings if f.get("severity") == "CRITICAL"]
        status = "ACTIVE" if reason == "SUCCESSFUL" else "COMPLETE (scanned once, on push)"
        _judge(self.tag, status, counts, critical, allow_critical, self.reporter)


def _digest(ecr: Any, repository: str, tag: str) -> str:
    found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    return found["imageDetails"][0]["imageDigest"]
