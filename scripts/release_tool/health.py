"""GET the service's /health until it answers 200 {"status": "ok"} (stdlib only)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from release_tool.errors import ExitCode, ReleaseError


def check(
    url: str,
    attempts: int = 12,
    delay: float = 10.0,
    sleep: Callable[[float], None] | None = None,
) -> str:
    """Retry for a while: a brand-new load balancer's DNS name takes a minute or two to resolve."""
    pause = sleep or time.sleep
    if not url.startswith(("http://", "https://")):
        raise ReleaseError(ExitCode.HEALTH_FAILED, f"health URL {url!r} is not an http(s) URL")
    problem = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - http(s) checked
                body = json.loads(response.read() or b"null")
                if response.status == 200 and isinstance(body, dict) and body.get("status") == "ok":
                    return url
                problem = f"HTTP {response.status} {body!r}"
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code}"
        except urllib.error.URLError as error:
            if isinstance(error.reason, ssl.SSLCertVerificationError):
                # Retrying cannot help: the certificate names a domain, not the ALB's DNS name.
                raise ReleaseError(
                    ExitCode.HEALTH_FAILED,
                    f"GET {url}: TLS certificate not valid for this host "
                    f"({error.reason.verify_message}); pass --health-url https://<domain>/health",
                ) from None
            problem = str(error.reason)
        except (OSError, ValueError) as error:
            problem = str(error)
        if attempt < attempts:
            pause(delay)
    raise ReleaseError(
        ExitCode.HEALTH_FAILED, f"GET {url} failed after {attempts} attempts: {problem}"
    )
