"""monitoring.yaml: every alarm notifies the SNS topic; the optional e-mail; the dashboard."""

from __future__ import annotations

import json

import pytest

from .conftest import STACK, load, monitoring_params, render, resources_of_type

EXPECTED_ALARMS = {
    # logical id: (namespace, metric, comparison)
    "CpuHighAlarm": ("AWS/ECS", "CPUUtilization", "GreaterThanThreshold"),
    "MemoryHighAlarm": ("AWS/ECS", "MemoryUtilization", "GreaterThanThreshold"),
    "RunningTasksLowAlarm": ("ECS/ContainerInsights", "RunningTaskCount", "LessThanThreshold"),
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
        assert (alarm["Namespace"], alarm["MetricName"], alarm["ComparisonOperator"]) == (
            namespace,
            metric,
            comparison,
        ), name
        assert alarm["AlarmActions"] == ["AlarmTopic"], name
        assert alarm["OKActions"] == ["AlarmTopic"], name
        assert alarm["AlarmName"].startswith(f"{STACK}-"), name


def test_running_tasks_alarm_fires_below_the_desired_count_and_on_missing_data():
    stack = render("monitoring.yaml", monitoring_params(DesiredCount=3))
    alarm = stack["Resources"]["RunningTasksLowAlarm"]["Properties"]
    assert alarm["Threshold"] == "3"
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Statistic"] == "Minimum"  # one minute at 0 tasks is enough to count
    # Zero tasks may publish no RunningTaskCount datapoint at all (it comes from per-task events):
    # missing data must page, not sit in INSUFFICIENT_DATA.
    assert alarm["TreatMissingData"] == "breaching"
    dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dims == {"ClusterName": STACK, "ServiceName": STACK}


def test_monitoring_is_created_only_after_the_service_so_no_data_yet_window_exists():
    """Why "breaching" cannot false-alarm on a new stack: the alarm's inputs are Service outputs."""
    monitoring = load("root.yaml")["Resources"]["Monitoring"]["Properties"]["Parameters"]
    for name in ("ClusterName", "ServiceName"):
        assert monitoring[name] == {"Fn::GetAtt": ["Service", f"Outputs.{name}"]}, name


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


def test_no_email_means_no_subscription(stack):
    assert "AlarmEmailSubscription" not in stack["Resources"]


def test_email_subscribes_to_the_topic():
    stack = render("monitoring.yaml", monitoring_params(AlarmEmail="ops@example.com"))
    subscription = stack["Resources"]["AlarmEmailSubscription"]["Properties"]
    assert subscription == {
        "TopicArn": "AlarmTopic",
        "Protocol": "email",
        "Endpoint": "ops@example.com",
    }


def test_dashboard_shows_every_promised_metric(stack):
    body = json.loads(stack["Resources"]["Dashboard"]["Properties"]["DashboardBody"])
    metrics = {
        line[1] for widget in body["widgets"] for line in widget["properties"].get("metrics", [])
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
    assert stack["Outputs"]["DashboardUrl"]["Value"].startswith(
        "https://us-east-1.console.aws.amazon.com/"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"AlarmEmail": "not-an-address"},
        {"LoadBalancerFullName": "my-alb"},
        {"CpuAlarmPercent": "101"},
        {"DesiredCount": "0"},
    ],
)
def test_monitoring_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        render("monitoring.yaml", monitoring_params(**bad))
