"""The edge as root.yaml wires it: the Edge stack comes before the service, and its outputs reach
the load balancer (access logs, web ACL), the dashboard and the WAF alarm; deletion protection and
HSTS follow their parameters. Each layer is rendered by cloud-radar with what the root hands it."""

from __future__ import annotations

import json

import pytest

from .conftest import (
    ALARM_TOPIC_ARN,
    CERTIFICATE_ARN,
    STACK,
    edge_params,
    load,
    monitoring_params,
    render,
    service_params,
)

BUCKET = "predict-api-edge-accesslogsbucket-1abcdefghijk"
WEB_ACL_ARN = (
    f"arn:aws:wafv2:us-east-1:123456789012:regional/webacl/{STACK}-edge/"
    "0123abcd-0123-4567-89ab-0123456789ab"
)
IMAGE = "0123456789abcdef0123456789abcdef01234567"


def service(**overrides):
    return render("service.yaml", service_params(AccessLogsBucketName=BUCKET, **overrides))


def attributes(stack) -> dict:
    lb = stack["Resources"]["LoadBalancer"]["Properties"]
    return {a["Key"]: a["Value"] for a in lb["LoadBalancerAttributes"]}


def environment(stack) -> dict:
    (container,) = stack["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e.get("Value", "") for e in container["Environment"]}


def test_the_load_balancer_logs_every_request_to_the_edge_bucket():
    attrs = attributes(service())
    assert attrs["access_logs.s3.enabled"] == "true"
    assert attrs["access_logs.s3.bucket"] == BUCKET


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "true"), ("true", "true"), ("false", "false")]
)
def test_deletion_protection_is_on_unless_turned_off(value, expected):
    overrides = {} if value is None else {"DeletionProtection": value}
    assert attributes(service(**overrides))["deletion_protection.enabled"] == expected


def test_the_web_acl_is_associated_with_the_load_balancer_when_given():
    association = service(WebAclArn=WEB_ACL_ARN)["Resources"]["WebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == WEB_ACL_ARN
    assert (
        association["ResourceArn"] == "LoadBalancer"
    )  # cloud-radar renders a Ref as the logical id


def test_no_web_acl_no_association():
    assert "WebAclAssociation" not in service()["Resources"]


@pytest.mark.parametrize(("certificate", "max_age"), [("", "0"), (CERTIFICATE_ARN, "31536000")])
def test_hsts_max_age_is_one_year_only_when_https_is_served(certificate, max_age):
    assert environment(service(CertificateArn=certificate))["HSTS_MAX_AGE"] == max_age


def monitoring(**overrides):
    return render("monitoring.yaml", monitoring_params(**overrides))


def edge_outputs(enable_waf: str) -> dict:
    stack = render("edge.yaml", edge_params(EnableWaf=enable_waf))
    return {name: output.get("Value", "") for name, output in stack["Outputs"].items()}


def dashboard(stack) -> dict:
    return json.loads(stack["Resources"]["Dashboard"]["Properties"]["DashboardBody"])


def test_with_waf_the_dashboard_ends_with_the_waf_widgets_and_blocked_requests_alarm():
    outputs = edge_outputs("true")
    stack = monitoring(
        WebAclName=outputs["WebAclName"], EdgeDashboardWidgets=outputs["DashboardWidgets"]
    )
    widgets = dashboard(stack)["widgets"]
    plain = dashboard(monitoring())["widgets"]
    assert widgets[: len(plain)] == plain, "appended at the end, the service widgets unchanged"
    waf = widgets[len(plain) :]
    assert waf and all(
        metric[0] == "AWS/WAFV2" for widget in waf for metric in widget["properties"]["metrics"]
    )
    names = {metric[1] for widget in waf for metric in widget["properties"]["metrics"]}
    assert names == {"AllowedRequests", "BlockedRequests"}

    alarm = stack["Resources"]["WafBlockedRequestsAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/WAFV2" and alarm["MetricName"] == "BlockedRequests"
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"WebACL": f"{STACK}-edge", "Region": "us-east-1", "Rule": "ALL"}
    assert alarm["AlarmActions"] == [ALARM_TOPIC_ARN] and alarm["OKActions"] == [ALARM_TOPIC_ARN]


def test_without_waf_no_waf_widgets_and_no_waf_alarm():
    outputs = edge_outputs("false")
    stack = monitoring(
        WebAclName=outputs["WebAclName"], EdgeDashboardWidgets=outputs["DashboardWidgets"]
    )
    assert dashboard(stack) == dashboard(monitoring())
    assert "WafBlockedRequestsAlarm" not in stack["Resources"]


def nested(stack, name) -> dict:
    return stack["Resources"][name]["Properties"]["Parameters"]


def test_root_creates_the_edge_with_the_service_and_hands_its_outputs_on():
    params = {
        "ArtifactsBucketName": "predict-api-artifacts-123456789012-us-east-1",
        "GitHubRepository": "octo-org/predict-api",
    }
    assert "Edge" not in render("root.yaml", params)["Resources"], "no image yet: no load balancer"
    root = render(
        "root.yaml",
        {**params, "ImageTag": IMAGE, "EnableWaf": "false", "DeletionProtection": "false"},
    )
    edge = nested(root, "Edge")
    assert edge["EnableWaf"] == "false"
    assert nested(root, "Service")["DeletionProtection"] == "false"
    # Every edge output the others read exists in edge.yaml (cfn-lint checks the GetAtt names too).
    declared = set(load("edge.yaml")["Outputs"])
    raw = load("root.yaml")["Resources"]
    for layer in ("Service", "Monitoring"):
        for value in raw[layer]["Properties"]["Parameters"].values():
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                stack, attribute = value["Fn::GetAtt"]
                if stack == "Edge":
                    assert attribute.removeprefix("Outputs.") in declared


def test_root_defaults_put_the_load_balancer_behind_waf_and_protect_it_only_once_healthy():
    # Off at creation: a failed first create must be able to roll the load balancer back; the
    # release tool turns it on once the service has been healthy (tests/release).
    parameters = load("root.yaml")["Parameters"]
    assert parameters["DeletionProtection"]["Default"] == "false"
    assert parameters["EnableWaf"]["Default"] == "true"
