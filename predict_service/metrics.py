"""The request's metrics, carried by its access line in CloudWatch's Embedded Metric Format (EMF).

CloudWatch Logs extracts the metrics from the line itself: no agent, no API call, no second line.
A few fields rather than the aws-embedded-metrics library, which writes a line of its own per flush.
Dimensions have low cardinality only (service, route template, status class), never the request id.
"""

from __future__ import annotations

import time
from typing import Any

NAMESPACE = "PredictAPI"
UNMATCHED_ROUTE = "unmatched"  # every path no route matches shares one value
# Each dimension set is its own custom metric in CloudWatch (README: Monitoring, what it costs).
DIMENSION_SETS = [["Service"], ["Service", "StatusClass"], ["Service", "Route"]]
METRICS = [{"Name": "Requests", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}]


class Metrics:
    def __init__(self, service: str):
        self.service = service
        self.directives = [
            {"Namespace": NAMESPACE, "Dimensions": DIMENSION_SETS, "Metrics": METRICS}
        ]

    def fields(self, route: str, status: int | None, duration_ms: float) -> dict[str, Any]:
        """The fields that make an access line an EMF record of one request."""
        return {
            "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": self.directives},
            "Service": self.service,
            "Route": route,
            "StatusClass": f"{status // 100}xx" if status else "unknown",
            "Requests": 1,
            "Latency": duration_ms,
        }
