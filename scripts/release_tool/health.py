"""GET the service's /health until it answers 200 {"status": "ok"}.

An https:// URL is checked with the certificate verified against this machine's trust store
(SSL_CERT_FILE names another bundle). When the stack's certificate is still waiting for its DNS
validation, that is said up front with the record to create, instead of retrying into a timeout."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from release_tool.deadline import Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter

REQUEST_TIMEOUT = 10.0
NAME_MISMATCH = {62, 64}  # OpenSSL: X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


def require_issued_certificate(certificate_arn: str, reporter: Reporter, acm: Any = None) -> None:
    """Refuse (exit 13) a certificate that ACM has not issued: no HTTPS answer can come before.
    ACM's DescribeCertificate lists the DNS record that validates it (DomainValidationOptions)."""
    if acm is None:
        import boto3

        region = certificate_arn.split(":")[3]  # arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID
        acm = boto3.session.Session().client("acm", region_name=region)
    try:
        found = acm.describe_certificate(CertificateArn=certificate_arn)["Certificate"]
    except ClientError as error:  # the health check itself still tells whether HTTPS works
        err = error.response.get("Error", {})
        reporter.info(f"certificate status unknown ({err.get('Code')}: {err.get('Message')})")
        return
    status, domain = found.get("Status", "?"), found.get("DomainName", "?")
    if status == "ISSUED":
        return
    options = found.get("DomainValidationOptions") or []
    if status == "PENDING_VALIDATION":
        records = [
            f"{r['Type']} {r['Name']} -> {r['Value']}"
            for r in (
                o.get("ResourceRecord") for o in options if o.get("ValidationStatus") != "SUCCESS"
            )
            if r
        ]
        emails = [e for o in options for e in o.get("ValidationEmails") or []]
        todo = "create this DNS record" if records else f"approve the email sent to {emails}"
        raise ReleaseError(
            ExitCode.HEALTH_FAILED,
            f"the certificate for {domain} is still PENDING_VALIDATION: ACM issues it once you "
            f"{todo} (CloudFormation writes the record itself when the stack has HostedZoneId); "
            "HTTPS cannot answer before, release again then",
            details=records or [f"{certificate_arn}: email validation"],
        )
    reason = f" ({found['FailureReason']})" if found.get("FailureReason") else ""
    raise ReleaseError(
        ExitCode.HEALTH_FAILED,
        f"the certificate for {domain} is {status}{reason}: HTTPS cannot answer with it; "
        "request a new one (or let the stack issue one from DomainName and HostedZoneId)",
        details=[certificate_arn],
    )


def _attempt(url: str, timeout: float) -> str | None:
    """None when healthy, else what was wrong."""
    try:
        # An explicit default context: verification stays on whatever PYTHONHTTPSVERIFY says.
        context = ssl.create_default_context()
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            body = json.loads(response.read() or b"null")
            if response.status == 200 and isinstance(body, dict) and body.get("status") == "ok":
                return None
            return f"HTTP {response.status} {body!r}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLCertVerificationError):
            # Retrying cannot help a certificate that names another host or is not trusted.
            hint = (
                "pass --health-url https://<domain>/health"
                if error.reason.verify_code in NAME_MISMATCH
                else "a certificate from ACM is trusted everywhere; for another CA, name its "
                "bundle in SSL_CERT_FILE"
            )
            raise ReleaseError(
                ExitCode.HEALTH_FAILED,
                f"GET {url}: TLS certificate not valid for this host "
                f"({error.reason.verify_message}); {hint}",
            ) from None
        return str(error.reason)
    except (OSError, ValueError) as error:
        return str(error)


def check(
    url: str,
    deadline: Deadline,
    reporter: Reporter,
    attempts: int = 12,
    delay: float = 10.0,
    *,
    certificate_arn: str | None = None,
    acm: Any = None,
) -> str:
    """Retry for a while (a brand-new load balancer's DNS name takes a minute or two to
    resolve), printing each attempt, never past --timeout.

    certificate_arn: the stack's certificate (its CertificateArn output); for an https:// URL its
    ACM status is read first (acm: an ACM client; default: one in the certificate's region)."""
    if not url.startswith(("http://", "https://")):
        raise ReleaseError(ExitCode.HEALTH_FAILED, f"health URL {url!r} is not an http(s) URL")
    if certificate_arn and urlsplit(url).scheme == "https":
        require_issued_certificate(certificate_arn, reporter, acm)
    problem = "no attempt made"
    for attempt in range(1, attempts + 1):
        if deadline.expired():
            raise deadline.timed_out(
                f"GET {url} still failing after {attempt - 1} attempts ({problem})",
                f"curl -fsS {url}",
            )
        problem = _attempt(url, min(REQUEST_TIMEOUT, max(deadline.remaining(), 0.1)))
        if problem is None:
            return url
        if attempt < attempts:
            reporter.info(
                f"GET {url}: attempt {attempt}/{attempts}: {problem}; retry in {delay:.0f} s"
            )
            deadline.sleep(delay)
    raise ReleaseError(
        ExitCode.HEALTH_FAILED, f"GET {url} failed after {attempts} attempts: {problem}"
    )
