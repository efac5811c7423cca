"""A stand-in for Amazon Inspector (inspector2) on 127.0.0.1: ListCoverage and ListFindings.

moto 5.2 has no ListCoverage, and its ListFindings answers a queue of canned results whatever the
filter says. This one answers from one image's state and honours the filters a caller sends, so a
wrong filter finds nothing, as it would on AWS. The shapes follow Inspector's API reference:
https://docs.aws.amazon.com/inspector/v2/APIReference/API_ListCoverage.html (coveredResources[]
.scanStatus {statusCode ACTIVE|INACTIVE, reason}) and API_ListFindings.html (filterCriteria
ecrImageRepositoryName / ecrImageHash / findingStatus / severity, paged by nextToken).
Every inspector2 client is pointed here with AWS_ENDPOINT_URL_INSPECTOR2 (botocore's
service-specific endpoint variable); ECR stays in moto."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.session
import pytest

PAGE_SIZE = 2  # small, so that a caller reading one page only misses findings

# A coverage answer meaning "Inspector has scanned the image": the stand-in then answers what
# Inspector reports for the scan frequency of the registry rule that covers the repository
# (read from moto's ECR): API_ScanStatus, SCAN_FREQUENCY_SCAN_ON_PUSH "This image will be scanned
# one time" and SCAN_FREQUENCY_MANUAL "will not be covered".
SCANNED = "scanned"
AFTER_SCAN = {
    "CONTINUOUS_SCAN": ("ACTIVE", "SUCCESSFUL"),
    "SCAN_ON_PUSH": ("INACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH"),
    "MANUAL": ("INACTIVE", "SCAN_FREQUENCY_MANUAL"),
}
# Both sides are AWS's: ECR's ScanFrequency and Inspector's ScanStatusReason in botocore's models.
_MODELS = botocore.session.get_session()
assert set(AFTER_SCAN) == set(_MODELS.get_service_model("ecr").shape_for("ScanFrequency").enum)
assert {reason for _, reason in AFTER_SCAN.values()} <= set(
    _MODELS.get_service_model("inspector2").shape_for("ScanStatusReason").enum
)


def registry_scan_frequency(repository: str) -> str:
    """The scan frequency ECR's registry rules give a repository (a matching CONTINUOUS_SCAN
    rule wins over SCAN_ON_PUSH; no match: MANUAL)."""
    configuration = boto3.client("ecr").get_registry_scanning_configuration()
    found = {
        rule["scanFrequency"]
        for rule in configuration["scanningConfiguration"].get("rules") or []
        if any(fnmatchcase(repository, f["filter"]) for f in rule["repositoryFilters"])
    }
    return next((f for f in ("CONTINUOUS_SCAN", "SCAN_ON_PUSH") if f in found), "MANUAL")


@dataclass
class ImageScan:
    repository: str = ""
    tag: str = ""
    digest: str = ""
    # One answer per ListCoverage call, the last repeated: None = not covered yet, SCANNED, else
    # (statusCode, reason), e.g. ("ACTIVE", "PENDING_INITIAL_SCAN"), ("ACTIVE", "SUCCESSFUL").
    coverage: list[tuple[str, str] | str | None] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)  # operations answered AccessDeniedException
    calls: list[tuple[str, dict]] = field(default_factory=list)

    def covered(self, criteria: dict) -> list[dict]:
        answer = self.coverage.pop(0) if len(self.coverage) > 1 else (self.coverage or [None])[0]
        wanted = {
            "resourceType": "AWS_ECR_CONTAINER_IMAGE",
            "ecrRepositoryName": self.repository,
            "ecrImageTags": self.tag,
        }
        if answer is None or not all(_matches(criteria, k, v) for k, v in wanted.items()):
            return []
        scanned = answer == SCANNED
        code, reason = AFTER_SCAN[registry_scan_frequency(self.repository)] if scanned else answer
        covered = {
            "resourceType": "AWS_ECR_CONTAINER_IMAGE",
            "resourceId": f"arn:aws:ecr:us-east-1:123456789012:repository/{self.repository}/"
            f"{self.digest}",
            "accountId": "123456789012",
            "scanType": "PACKAGE",
            "scanStatus": {"statusCode": code, "reason": reason},
            "resourceMetadata": {"ecrImage": {"tags": [self.tag]}},
        }
        if reason == "SUCCESSFUL" or (scanned and reason == "SCAN_FREQUENCY_SCAN_ON_PUSH"):
            covered["lastScannedAt"] = datetime.now(UTC).timestamp()
        return [covered]

    def matching_findings(self, criteria: dict) -> list[dict]:
        image = _matches(criteria, "ecrImageRepositoryName", self.repository) and _matches(
            criteria, "ecrImageHash", self.digest
        )
        return [
            f
            for f in self.findings
            if image
            and _matches(criteria, "findingStatus", f["status"], required=False)
            and _matches(criteria, "severity", f["severity"], required=False)
        ]


def _matches(criteria: dict, key: str, value: str, required: bool = True) -> bool:
    filters = criteria.get(key)
    if not filters:
        return not required
    return any(f.get("comparison") == "EQUALS" and f.get("value") == value for f in filters)


def finding(vulnerability: str, severity: str, status: str = "ACTIVE") -> dict:
    return {
        "findingArn": f"arn:aws:inspector2:us-east-1:123456789012:finding/{vulnerability}",
        "awsAccountId": "123456789012",
        "type": "PACKAGE_VULNERABILITY",
        "description": vulnerability,
        "title": f"{vulnerability} - openssl",
        "severity": severity,
        "status": status,
        "firstObservedAt": 0,
        "lastObservedAt": 0,
        "remediation": {},
        "resources": [],
        "packageVulnerabilityDetails": {
            "vulnerabilityId": vulnerability,
            "source": "DEBIAN_CVE",
            "vulnerablePackages": [],
        },
    }


@pytest.fixture(name="inspector")
def inspector_fixture(monkeypatch) -> ImageScan:
    """The stand-in, answering every inspector2 client of the test; its state to set and read."""
    state = ImageScan()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            operation = {"/coverage/list": "ListCoverage", "/findings/list": "ListFindings"}.get(
                self.path, "?"
            )
            state.calls.append((operation, body))
            criteria = body.get("filterCriteria") or {}
            if operation in state.denied:
                return self._answer(
                    403,
                    {"message": f"not authorized to perform: inspector2:{operation}"},
                    "AccessDeniedException",
                )
            if operation == "ListCoverage":
                return self._answer(200, {"coveredResources": state.covered(criteria)})
            if operation == "ListFindings":
                found = state.matching_findings(criteria)
                start = int(body.get("nextToken") or 0)
                page = {"findings": found[start : start + PAGE_SIZE]}
                if start + PAGE_SIZE < len(found):
                    page["nextToken"] = str(start + PAGE_SIZE)
                return self._answer(200, page)
            return self._answer(400, {"message": self.path}, "ValidationException")

        def _answer(self, status: int, payload: dict, error: str | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv(
        "AWS_ENDPOINT_URL_INSPECTOR2", f"http://127.0.0.1:{server.server_address[1]}"
    )
    yield state
    server.shutdown()
    server.server_close()
