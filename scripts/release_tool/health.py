"""GET the service's /health until it answers 200 {"status": "ok"} (stdlib only)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.progress import Deadline

REQUEST_TIMEOUT = 10.0


def _attempt(url: str, timeout: float) -> str | None:
    """None when healthy, else what was wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
            body = json.loads(response.read() or b"null")
            if response.status == 200 and isinstance(body, dict) and body.get("status") == "ok":
                return None
            return f"HTTP {response.status} {body!r}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLCertVerificationError):
            # Retrying cannot help: the certificate names a domain, not the ALB's DNS name.
            raise ReleaseError(
                ExitCode.HEALTH_FAILED,
                f"GET {url}: TLS certificate not valid for this host "
                f"({error.reason.verify_message}); pass --health-url https://<domain>/health",
            ) from None
        return str(error.reason)
    except (OSError, ValueError) as error:
        return str(error)


def check(
    url: str, deadline: Deadline, reporter: Reporter, attempts: int = 12, delay: float = 10.0
) -> str:
    """Retry for a while (a brand-new load balancer's DNS name takes a minute or two to
    resolve), printing each attempt, never past --timeout."""
    if not url.startswith(("http://", "https://")):
        raise ReleaseError(ExitCode.HEALTH_FAILED, f"health URL {url!r} is not an http(s) URL")
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
