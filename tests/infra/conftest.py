"""CloudFormation test helpers: the templates as data and rendered (tests/templates.py, shared with
tests/release), checked with cfn-guard; IAM policy evaluation and Route 53 zones (shared too)."""

from __future__ import annotations

import json

import cfn_guard_rs
import pytest
from cfnlint.decode import decode_str
from cloud_radar.cf.unit import functions

from tests.hosted_zones import hosted_zone  # noqa: F401 - for this folder's tests
from tests.iam_policy import allows  # noqa: F401 - for this folder's tests
from tests.templates import (  # noqa: F401 - for this folder's tests
    ACCOUNT,
    ALARM_TOPIC_ARN,
    CERTIFICATE_ARN,
    CFN_DIR,
    IMAGE_TAG,
    OFFLINE_REGION_DATA,
    PRIVATE_SUBNETS,
    REGION,
    REPO_ROOT,
    REPOSITORY_ARN,
    REPOSITORY_URI,
    STACK,
    check_rules,
    delivery_params,
    edge_params,
    load,
    monitoring_params,
    oidc_params,
    refused_for,
    render,
    root_params,
    service_params,
)

# The nested stacks' templates, as root.yaml names them (its TemplateURLs are local paths).
_ROOT, _ = decode_str((CFN_DIR / "root.yaml").read_text())
CHILDREN = [
    resource["Properties"]["TemplateURL"]
    for resource in _ROOT["Resources"].values()
    if resource["Type"] == "AWS::CloudFormation::Stack"
]
ALL_TEMPLATES = ["root.yaml", *CHILDREN]
APP_NAMESPACE = "PredictAPI"
SECURITY_RULES = (CFN_DIR / "policies" / "security.guard").read_text()


def guard(stack: dict):
    """cloudformation/policies/security.guard on a rendered template (cfn-guard-rs, in process)."""
    # Only the sections guard reads, as plain data.
    return cfn_guard_rs.run_checks({"Resources": stack["Resources"]}, SECURITY_RULES)


def failed_rules(report) -> set[str]:
    return {clause.Rule.name for clause in report.not_compliant}


def resources_of_type(stack: dict, resource_type: str) -> dict:
    return {k: v for k, v in stack["Resources"].items() if v["Type"] == resource_type}


def _metric_references(stack: dict) -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) of every metric an alarm or the dashboard reads."""
    found = set()
    for resource in stack["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            if "MetricName" in props:
                dims = frozenset(d["Name"] for d in props.get("Dimensions", []))
                found.add((props["Namespace"], props["MetricName"], dims))
            for query in props.get("Metrics", []):
                if "MetricStat" in query:
                    metric = query["MetricStat"]["Metric"]
                    dims = frozenset(d["Name"] for d in metric.get("Dimensions", []))
                    found.add((metric["Namespace"], metric["MetricName"], dims))
        elif resource["Type"] == "AWS::CloudWatch::Dashboard":
            for widget in json.loads(props["DashboardBody"])["widgets"]:
                for line in widget["properties"].get("metrics", []):
                    names = [part for part in line if isinstance(part, str)]
                    if (
                        len(names) >= 2
                    ):  # [namespace, metric, name, value, name, value, ..., {options}]
                        found.add((names[0], names[1], frozenset(names[2::2])))
    return found


def app_metric_references() -> set[tuple[str, str, frozenset[str]]]:
    """Every (namespace, metric, dimension-name set) of the app's EMF metrics that the rendered
    templates read (alarms in service.yaml, alarms and dashboard in monitoring.yaml): each must be a
    combination the app really emits, or the alarm or widget watches a metric that never exists."""
    stacks = [
        render("service.yaml", service_params()),
        render("monitoring.yaml", monitoring_params()),
    ]
    return {ref for stack in stacks for ref in _metric_references(stack) if ref[0] == APP_NAMESPACE}


@pytest.fixture(autouse=True)
def _offline_region_data(monkeypatch):
    monkeypatch.setattr(functions, "REGION_DATA", OFFLINE_REGION_DATA)
