"""The request's metrics, carried by its access line in CloudWatch's Embedded Metric Format (EMF):
CloudWatch Logs extracts them from the line, so no agent, no API call and no second line (the
aws-embedded-metrics library writes a line of its own per flush). Dimensions have low cardinality
only (service, route template, status class), never the request id."""

import time
from typing import Any

NAMESPACE = "PredictAPI"
UNMATCHED_ROUTE = "unmatched"  # every path no route matches shares one value
# Each metric and dimension set is a custom metric that CloudWatch bills (README: Monitoring), so
# each metric gets only the sets the alarms and the dashboard read (a test holds the two equal).
_REQUESTS = {"Name": "Requests", "Unit": "Count"}
_LATENCY = {"Name": "Latency", "Unit": "Milliseconds"}
DIRECTIVES = [
    {"Namespace": NAMESPACE, "Dimensions": [["Service"], ["Service", dim]], "Metrics": [metric]}
    for dim, metric in (("StatusClass", _REQUESTS), ("Route", _LATENCY))
]


def emf_fields(service: str, route: str, status: int | None, duration_ms: float) -> dict[str, Any]:
    """The fields that make an access line an EMF record of one request."""
    return {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": DIRECTIVES},
        "Service": service,
        "Route": route,
        "StatusClass": f"{status // 100}xx" if status else "unknown",
        "Requests": 1,
        "Latency": duration_ms,
    }
