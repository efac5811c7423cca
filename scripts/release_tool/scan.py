"""The pushed image's ECR scan: wait for it (bounded by --timeout) and refuse CRITICAL findings.

DescribeImageScanFindings answers for basic and enhanced scanning alike: basic reports
IN_PROGRESS then COMPLETE, enhanced PENDING then ACTIVE; findingSeverityCounts counts all
findings whatever the page size."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.progress import Deadline

DONE = {"COMPLETE", "ACTIVE"}
RUNNING = {"IN_PROGRESS", "PENDING"}
POLL_SECONDS = 10
# With scan on push, a scan exists moments after the push; until then ECR answers
# ScanNotFoundException, which must not pass for "scanning off".
SCAN_START_SECONDS = 60
SHOWN_FINDINGS = 5


def _critical_names(findings: dict) -> list[str]:
    basic = [f.get("name", "?") for f in findings.get("findings") or []]
    basic_severity = [f.get("severity") for f in findings.get("findings") or []]
    names = [n for n, s in zip(basic, basic_severity, strict=True) if s == "CRITICAL"]
    for finding in findings.get("enhancedFindings") or []:
        if finding.get("severity") == "CRITICAL":
            details = finding.get("packageVulnerabilityDetails") or {}
            names.append(details.get("vulnerabilityId") or finding.get("title", "?"))
    return names


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
) -> None:
    reporter.step(f"reading the ECR scan of {tag}")
    shown = None
    started = deadline.clock.monotonic()
    while True:
        try:
            found = ecr.describe_image_scan_findings(
                repositoryName=repository, imageId={"imageTag": tag}, maxResults=100
            )
        except ClientError as error:
            err = error.response.get("Error", {})
            problem = f"{err.get('Code')}: {err.get('Message')}"
            not_found = err.get("Code") == "ScanNotFoundException"
            if allow_critical or (not_found and not _scans_on_push(ecr, repository)):
                # Scanning is off for this repository (a choice made in its template): say so.
                reporter.info(f"no scan result for {tag} ({problem}); findings not checked")
                return
            if not_found:
                waited = deadline.clock.monotonic() - started
                if waited < SCAN_START_SECONDS and not deadline.expired():
                    reporter.info(f"no scan of {tag} yet; {repository} scans on push: waiting")
                    deadline.sleep(POLL_SECONDS)
                    continue
                raise ReleaseError(
                    ExitCode.PREREQUISITE,
                    f"no ECR scan of {tag} after {waited:.0f} s although {repository} scans on "
                    "push: nothing was deployed; start one (aws ecr start-image-scan) or pass "
                    "--allow-critical-findings to deploy it unchecked",
                ) from None
            # Unreadable is not clean: refuse rather than skip the gate silently.
            raise ReleaseError(
                ExitCode.PREREQUISITE,
                f"cannot read the ECR scan of {tag} ({problem}): allow "
                "ecr:DescribeImageScanFindings on the repository, or pass "
                "--allow-critical-findings to deploy it unchecked",
            ) from None
        status = (found.get("imageScanStatus") or {}).get("status", "?")
        if status in DONE:
            break
        if status not in RUNNING:  # FAILED, UNSUPPORTED_IMAGE, ...: nothing vouches for the image
            description = (found.get("imageScanStatus") or {}).get("description", "")
            if allow_critical:
                reporter.info(f"scan {status}: {description}; findings not checked")
                return
            raise ReleaseError(
                ExitCode.PREREQUISITE,
                f"the ECR scan of {tag} ended {status} ({description}): nothing was deployed; "
                "pass --allow-critical-findings to deploy it unchecked",
            )
        if deadline.expired():
            raise deadline.timed_out(
                f"the ECR scan of {tag} is still {status}; nothing was deployed",
                f"aws ecr describe-image-scan-findings --repository-name {repository} "
                f"--image-id imageTag={tag}",
            )
        if status != shown:
            reporter.info(f"scan {status}; waiting (up to {deadline.remaining():.0f} s)")
            shown = status
        else:
            reporter.info(f"scan still {status}")
        deadline.sleep(POLL_SECONDS)
    findings = found.get("imageScanFindings") or {}
    counts = findings.get("findingSeverityCounts") or {}
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no findings"
    reporter.info(f"scan {status}: {summary}")
    critical = counts.get("CRITICAL", 0)
    if not critical:
        return
    names = _critical_names(findings)[:SHOWN_FINDINGS]
    if allow_critical:
        reporter.info(f"--allow-critical-findings: deploying despite {critical} CRITICAL")
        return
    raise ReleaseError(
        ExitCode.CRITICAL_FINDINGS,
        f"image {tag} has {critical} CRITICAL finding(s) in its ECR scan; not deployed: update "
        "the affected packages and release again, or pass --allow-critical-findings",
        details=[f"CRITICAL: {name}" for name in names],
    )
