"""monitoring.yaml: every alarm notifies the alarm topic; the dashboard; the saved queries."""

from __future__ import annotations

import json

import pytest

from predict_service import create_app
from predict_service.metrics import UNMATCHED_ROUTE

from .conftest import (
    ALARM_TOPIC_ARN,
    APP_NAMESPACE,
    STACK,
    app_metric_references,
    monitoring_params,
    refused_for,
    render,
    resources_of_type,
)

EXPECTED_ALARMS = {
    # logical id: (namespace, metric, comparison)
    "CpuHighAlarm": ("AWS/ECS", "CPUUtilization", "GreaterThanThreshold"),
    "MemoryHighAlarm": ("AWS/ECS", "MemoryUtilization", "GreaterThanThreshold"),
    "RunningTasksLowAlarm": (None, None, "GreaterThanOrEqualToThreshold"),  # metric math
    "LoadBalancer5xxAlarm": (
        "AWS/ApplicationELB",
        "HTTPCode_ELB_5XX_Count",
        "GreaterThanOrEqualToThreshold",
    ),
    "Target5xxAlarm": (
        "AWS/ApplicationELB",
        "HTTPCode_Target_5XX_Count",
        "GreaterThanOrEqualToThreshold",
    ),
    "LatencyP99Alarm": ("AWS/ApplicationELB", "TargetResponseTime", "GreaterThanThreshold"),
    "UnhealthyHostsAlarm": ("AWS/ApplicationELB", "UnHealthyHostCount", "GreaterThanThreshold"),
}


@pytest.fixture(scope="module")
def stack():
    return render("monitoring.yaml", monitoring_params())


def test_exactly_the_promised_alarms_all_notifying_the_topic(stack):
    alarms = resources_of_type(stack, "AWS::CloudWatch::Alarm")
    assert set(alarms) == set(EXPECTED_ALARMS)
    for name, (namespace, metric, comparison) in EXPECTED_ALARMS.items():
        alarm = alarms[name]["Properties"]
        assert (
            alarm.get("Namespace"),
            alarm.get("MetricName"),
            alarm["ComparisonOperator"],
        ) == (namespace, metric, comparison), name
        # The topic comes from the service stack (its app alarms need it before the service).
        assert alarm["AlarmActions"] == [ALARM_TOPIC_ARN], name
        assert alarm["OKActions"] == [ALARM_TOPIC_ARN], name
        assert alarm["AlarmName"].startswith(f"{STACK}-"), name


def running_tasks_alarm(stack) -> dict:
    return stack["Resources"]["RunningTasksLowAlarm"]["Properties"]


def test_running_tasks_alarm_compares_running_with_desired_not_a_fixed_floor(stack):
    alarm = running_tasks_alarm(stack)
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    metrics = {
        q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"])
        for q in alarm["Metrics"]
        if "MetricStat" in q
    }
    assert metrics == {
        "running": ("RunningTaskCount", "Minimum"),
        "desired": ("DesiredTaskCount", "Maximum"),
    }
    for query in queries.values():
        if "MetricStat" in query:
            dims = {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}
            assert dims == {"ClusterName": STACK, "ServiceName": STACK}
    (returned,) = [q for q in alarm["Metrics"] if q["ReturnData"]]
    # No running task may mean no RunningTaskCount datapoint at all: a full shortfall, then.
    assert returned["Expression"] == "desired - FILL(running, 0)"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def shortfall_minutes_that_page(alarm: dict, shortfall: list[int]) -> bool:
    """CloudWatch's M-of-N rule over the newest EvaluationPeriods minutes of a shortfall series."""
    window = shortfall[-alarm["EvaluationPeriods"] :]
    breaching = sum(1 for value in window if value >= alarm["Threshold"])
    return breaching >= alarm["DatapointsToAlarm"]


@pytest.mark.parametrize(
    ("case", "shortfall", "pages"),
    [
        # The first release: 1 task, then the scalable target lifts desired to 2; ~3 minutes to run.
        ("first release", [0, 1, 1, 1, 0, 0, 0, 0, 0, 0], False),
        # A scale-out by 3 tasks whose image pull is slow: 4 minutes short.
        ("slow scale-out", [0, 0, 3, 3, 2, 1, 0, 0, 0, 0], False),
        # A crash loop: replacements die, a sample now and then catches one running.
        ("crash loop", [1, 1, 0, 1, 1, 1, 0, 1, 1, 1], True),
        ("no task at all", [2] * 10, True),
    ],
)
def test_running_tasks_alarm_pages_for_a_crash_loop_not_for_a_start(stack, case, shortfall, pages):
    alarm = running_tasks_alarm(stack)
    assert shortfall_minutes_that_page(alarm, shortfall) is pages, case


def test_running_tasks_alarm_does_not_count_missing_minutes_as_breaching(stack):
    # Container Insights' newest minute may be late: missing, not breaching.
    assert running_tasks_alarm(stack)["TreatMissingData"] == "notBreaching"


def test_latency_alarm_uses_p99_and_thresholds_are_parameters():
    stack = render(
        "monitoring.yaml", monitoring_params(CpuAlarmPercent=70, LatencyP99AlarmSeconds=2)
    )
    assert stack["Resources"]["LatencyP99Alarm"]["Properties"]["ExtendedStatistic"] == "p99"
    assert stack["Resources"]["LatencyP99Alarm"]["Properties"]["Threshold"] == "2"
    assert stack["Resources"]["CpuHighAlarm"]["Properties"]["Threshold"] == "70"


def test_load_balancer_alarms_use_the_full_names(stack):
    dims = {
        d["Name"]: d["Value"]
        for d in stack["Resources"]["Target5xxAlarm"]["Properties"]["Dimensions"]
    }
    params = monitoring_params()
    assert dims == {
        "LoadBalancer": params["LoadBalancerFullName"],
        "TargetGroup": params["TargetGroupFullName"],
    }


def test_dashboard_shows_every_promised_metric(stack):
    body = json.loads(stack["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    metrics = {
        line[1]
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
        if isinstance(line[0], str)  # not an expression
    }
    assert {
        "CPUUtilization",
        "MemoryUtilization",
        "RunningTaskCount",
        "RequestCount",
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
        "TargetResponseTime",
        "HealthyHostCount",
        "UnHealthyHostCount",
    } <= metrics
    p99 = [w for w in body["widgets"] if w["properties"].get("stat") == "p99"]
    assert p99, "the latency widget shows p99"


def dashboard(stack) -> dict:
    return json.loads(stack["Resources"]["Dashboard"]["Properties"]["DashboardBody"])


def app_lines(widget) -> list:
    return [line for line in widget["properties"].get("metrics", []) if line[0] == APP_NAMESPACE]


def test_dashboard_shows_app_latency_percentiles_for_every_route(stack):
    seen = {
        (line[line.index("Route") + 1], line[-1]["stat"])
        for widget in dashboard(stack)["widgets"]
        for line in app_lines(widget)
        if line[1] == "Latency" and "Route" in line
    }
    # Every route the app reports (its URL rules, and the bucket for paths that match none).
    app = create_app({"TESTING": True})
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    routes |= {UNMATCHED_ROUTE}
    assert seen == {(route, stat) for route in routes for stat in ("p50", "p90", "p99")}


def test_dashboard_shows_requests_by_status_class_and_the_5xx_rate(stack):
    widgets = dashboard(stack)["widgets"]
    classes = {
        line[line.index("StatusClass") + 1]
        for widget in widgets
        for line in app_lines(widget)
        if "StatusClass" in line and widget["properties"].get("stat") == "Sum"
    }
    assert classes == {"2xx", "3xx", "4xx", "5xx"}
    (rate,) = [w for w in widgets if "5xx rate" in w["properties"]["title"]]
    lines = rate["properties"]["metrics"]
    ids = {line[-1]["id"]: line for line in lines if isinstance(line[0], str)}
    assert ids["errors"][3:6] == [STACK, "StatusClass", "5xx"]
    assert ids["requests"][2:4] == ["Service", STACK] and "StatusClass" not in ids["requests"]
    (expression,) = [line[0]["expression"] for line in lines if isinstance(line[0], dict)]
    assert expression == "100 * FILL(errors, 0) / requests"


def test_dashboard_lists_the_latest_errors_with_their_request_ids(stack):
    (logs,) = [w for w in dashboard(stack)["widgets"] if w["type"] == "log"]
    query = logs["properties"]["query"]
    assert query.startswith(f"SOURCE '/ecs/{STACK}'")
    assert "request_id" in query and "level = 'ERROR'" in query and "status >= 500" in query
    assert "sort @timestamp desc" in query


def test_the_app_metrics_read_are_the_contracted_ones():
    # The contract: Requests and Latency, by [Service], [Service, StatusClass], [Service, Route].
    allowed_dimensions = {
        frozenset({"Service"}),
        frozenset({"Service", "StatusClass"}),
        frozenset({"Service", "Route"}),
    }
    references = app_metric_references()
    assert {metric for _, metric, _ in references} == {"Requests", "Latency"}
    assert {dims for _, _, dims in references} <= allowed_dimensions


QUERIES = {
    "RequestByIdQuery": ("one request by id", "request_id ="),
    "SlowestRequestsQuery": ("slowest requests", "sort duration_ms desc"),
    "ErrorsWithTracebacksQuery": ("errors with tracebacks", "exception"),
    "RequestsByStatusAndRouteQuery": ("requests per status and route", "by status, Route"),
}


def test_saved_queries_read_the_service_log_group(stack):
    queries = resources_of_type(stack, "AWS::Logs::QueryDefinition")
    assert set(queries) == set(QUERIES)
    for name, (title, needle) in QUERIES.items():
        props = queries[name]["Properties"]
        assert props["Name"].startswith(f"{STACK}/{title}"), name
        assert props["LogGroupNames"] == [f"/ecs/{STACK}"], name
        assert needle in props["QueryString"], name


@pytest.mark.parametrize(
    "console",
    ["console.aws.amazon.com", "console.amazonaws.cn", "console.amazonaws-us-gov.com"],
)
def test_the_dashboard_link_uses_the_partitions_console(console):
    # The root passes its partition's console host (root.yaml's Partitions mapping).
    stack = render("monitoring.yaml", monitoring_params(ConsoleHost=console))
    url = stack["Outputs"]["DashboardUrl"]["Value"]
    assert url.startswith(f"https://{console}/cloudwatch/home?region=us-east-1#dashboards:name=")


@pytest.mark.parametrize(
    "bad",
    [
        {"AlarmTopic": "not-an-arn"},
        {"LoadBalancerFullName": "my-alb"},
        {"CpuAlarmPercent": "101"},
        {"AppLatencyP99AlarmMilliseconds": "0"},
        {"ConsoleHost": "evil.example.com"},
    ],
)
def test_monitoring_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=refused_for(bad)):
        render("monitoring.yaml", monitoring_params(**bad))
