"""Progressive delivery in the templates: ROLLING (the default) renders the service stack as it was
before the strategies existed; CANARY, LINEAR and BLUE_GREEN add the blue/green wiring, the
contract-check hook and alarms that watch the bake. Property shapes: cfn-lint's bundled
AWS::ECS::Service schema; wiring: ECS Developer Guide, "Required resources for Amazon ECS
blue/green deployments"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cloud_radar.cf.unit import Template

from .conftest import (
    CERTIFICATE_ARN,
    CFN_DIR,
    delivery_params,
    failed_rules,
    guard,
    load,
    render,
    root_params,
    service_params,
)

CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")
PROGRESSIVE = ["CANARY", "LINEAR", "BLUE_GREEN"]
DELIVERY_PARAMETERS = [
    "DeploymentStrategy",
    "BakeTimeMinutes",
    "CanaryPercent",
    "CanaryBakeMinutes",
    "LinearStepPercent",
    "LinearStepBakeMinutes",
    "TestListenerPort",
    "TestTrafficCidr",
    "ManualApproval",
]
ADDED_DEPLOYMENT_KEYS = {
    "Strategy",
    "BakeTimeInMinutes",
    "CanaryConfiguration",
    "LinearConfiguration",
    "LifecycleHooks",
}


def service(stack: dict) -> dict:
    return stack["Resources"]["Service"]["Properties"]


def test_rolling_is_the_default_everywhere():
    for name in ("root.yaml", "service.yaml"):
        assert load(name)["Parameters"]["DeploymentStrategy"]["Default"] == "ROLLING"


def test_rolling_renders_the_service_stack_without_any_of_the_delivery_wiring():
    """Today's stack: the template with every delivery addition taken out, rendered with the same
    parameters, is equal resource by resource and output by output to ROLLING's render."""
    rolling = render("service.yaml", service_params())
    before = load("service.yaml")
    for name in DELIVERY_PARAMETERS:
        del before["Parameters"][name]
    for name in ("IsProgressive", "IsCanary", "IsLinear", "HasManualApproval"):
        del before["Conditions"][name]
    del before["Resources"]["Delivery"]
    del before["Outputs"]["TestUrl"]
    config = before["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    for key in ADDED_DEPLOYMENT_KEYS:
        del config[key]
    del before["Resources"]["Service"]["Properties"]["LoadBalancers"][0]["AdvancedConfiguration"]
    template = Template(before, imports={})
    template.StackName, template.AccountId = "predict-api", "123456789012"
    today = template.create_stack({k: str(v) for k, v in service_params().items()}, "us-east-1")
    assert rolling["Resources"] == today["Resources"]
    assert rolling["Outputs"] == today["Outputs"]
    assert set(service(rolling)["DeploymentConfiguration"]) == {
        "MinimumHealthyPercent",
        "MaximumPercent",
        "DeploymentCircuitBreaker",
        "Alarms",
    }
    assert "AdvancedConfiguration" not in service(rolling)["LoadBalancers"][0]


@pytest.mark.parametrize("strategy", PROGRESSIVE)
def test_each_progressive_strategy_adds_the_blue_green_wiring(strategy):
    stack = render("service.yaml", service_params(DeploymentStrategy=strategy))
    assert stack["Resources"]["Delivery"]["Properties"]["TemplateURL"] == "delivery.yaml"
    config = service(stack)["DeploymentConfiguration"]
    assert config["Strategy"] == strategy
    assert config["BakeTimeInMinutes"] == 10
    assert ("CanaryConfiguration" in config) == (strategy == "CANARY")
    assert ("LinearConfiguration" in config) == (strategy == "LINEAR")
    advanced = service(stack)["LoadBalancers"][0]["AdvancedConfiguration"]
    assert set(advanced) == {
        "AlternateTargetGroupArn",
        "ProductionListenerRule",
        "TestListenerRule",
        "RoleArn",
    }
    # The alarms that roll back a rolling update still roll back, now through the bake too.
    assert config["Alarms"] == {
        "AlarmNames": ["AppErrorRateAlarm", "AppLatencyP99Alarm"],  # Ref = the alarm's name
        "Enable": True,
        "Rollback": True,
    }


def test_canary_checks_the_contract_before_production_traffic_and_takes_a_share_first():
    stack = render("service.yaml", service_params(DeploymentStrategy="CANARY"))
    config = service(stack)["DeploymentConfiguration"]
    assert config["CanaryConfiguration"] == {"CanaryPercent": 10, "CanaryBakeTimeInMinutes": 5}
    (hook,) = config["LifecycleHooks"]
    assert hook["TargetType"] == "AWS_LAMBDA"
    assert hook["LifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT"]
    assert "ContractCheckFunctionArn" in json.dumps(hook["HookTargetArn"])


def test_manual_approval_adds_a_pause_that_rolls_back_when_nobody_answers():
    stack = render(
        "service.yaml", service_params(DeploymentStrategy="LINEAR", ManualApproval="true")
    )
    hooks = service(stack)["DeploymentConfiguration"]["LifecycleHooks"]
    assert [h["TargetType"] for h in hooks] == ["AWS_LAMBDA", "PAUSE"]
    assert hooks[1]["TimeoutConfiguration"]["Action"] == "ROLLBACK"
    rolling = render("service.yaml", service_params(ManualApproval="true"))
    assert "LifecycleHooks" not in service(rolling)["DeploymentConfiguration"]


def test_the_production_rule_is_on_the_listener_clients_use():
    http = render("service.yaml", service_params(DeploymentStrategy="CANARY"))
    https = render(
        "service.yaml",
        service_params(DeploymentStrategy="CANARY", CertificateArn=CERTIFICATE_ARN),
    )
    production = "ProductionListenerArn"
    assert "HttpListener" in json.dumps(
        http["Resources"]["Delivery"]["Properties"]["Parameters"][production]
    )
    assert "HttpsListener" in json.dumps(
        https["Resources"]["Delivery"]["Properties"]["Parameters"][production]
    )


def test_the_alarm_arithmetic_holds_at_the_parameters_limits():
    """A canary at its smallest share that fails every request must be above the default error-rate
    threshold; every bake at its shortest must outlast the alarms' 2-of-3-minutes window plus a
    minute for the metrics to land."""
    template = load("service.yaml")["Parameters"]
    stack = render("service.yaml", service_params())
    alarm = stack["Resources"]["AppErrorRateAlarm"]["Properties"]
    assert template["CanaryPercent"]["MinValue"] > template["AppErrorRateAlarmPercent"]["Default"]
    assert (
        min(template["LinearStepPercent"]["AllowedValues"])
        > template["AppErrorRateAlarmPercent"]["Default"]
    )
    period_minutes = (
        max(m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m) / 60
    )
    window = alarm["DatapointsToAlarm"] * period_minutes + 1
    assert template["CanaryBakeMinutes"]["MinValue"] >= window
    assert template["BakeTimeMinutes"]["MinValue"] >= window
    assert template["LinearStepBakeMinutes"]["MinValue"] >= window


def test_the_test_port_admits_the_vpc_and_only_a_cidr_the_operator_names():
    plain = render("delivery.yaml", delivery_params())
    ingress = [
        r["Properties"]
        for r in plain["Resources"].values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
    ]
    assert [(i["CidrIp"], i["FromPort"]) for i in ingress] == [("10.0.0.0/16", 8080)]
    named = render("delivery.yaml", delivery_params(TestTrafficCidr="203.0.113.0/24"))
    cidrs = sorted(
        r["Properties"]["CidrIp"]
        for r in named["Resources"].values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress"
    )
    assert cidrs == ["10.0.0.0/16", "203.0.113.0/24"]
    with pytest.raises(ValueError, match="TestTrafficCidr"):
        render("delivery.yaml", delivery_params(TestTrafficCidr="0.0.0.0/0"))


def test_ecs_moves_traffic_with_the_managed_load_balancer_policy_and_may_invoke_only_the_hook():
    stack = render("delivery.yaml", delivery_params())
    role = stack["Resources"]["InfrastructureRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs.amazonaws.com"
    }
    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
    ]
    (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert "ContractCheckFunction" in json.dumps(statement["Resource"])


def test_both_listener_rules_start_with_all_traffic_on_the_serving_target_group():
    stack = render("delivery.yaml", delivery_params())
    for name in ("ProductionListenerRule", "TestListenerRule"):
        groups = stack["Resources"][name]["Properties"]["Actions"][0]["ForwardConfig"][
            "TargetGroups"
        ]
        assert [g["Weight"] for g in groups] == [100, 0]
        assert groups[0]["TargetGroupArn"] == delivery_params()["TargetGroupArn"]


def test_the_hook_ships_as_its_directory_and_calls_the_test_listener():
    stack = render("delivery.yaml", delivery_params(TestListenerPort=9000))
    function = stack["Resources"]["ContractCheckFunction"]["Properties"]
    assert (CFN_DIR / function["Code"] / "app.py").is_file()
    assert function["Handler"] == "app.handler"
    env = function["Environment"]["Variables"]
    assert (env["TEST_HOST"], str(env["TEST_PORT"])) == (
        delivery_params()["LoadBalancerDnsName"],
        "9000",
    )
    assert env["LOAD_BALANCER_NAME"] == "app/predi/0123"


@pytest.mark.parametrize("strategy", ["ROLLING", *PROGRESSIVE])
def test_every_strategy_passes_the_guard_rules(strategy):
    rendered = [
        render("service.yaml", service_params(DeploymentStrategy=strategy, ManualApproval="true"))
    ]
    if strategy != "ROLLING":
        rendered.append(render("delivery.yaml", delivery_params(TestTrafficCidr="203.0.113.0/24")))
    for stack in rendered:
        report = guard(stack)
        assert failed_rules(report) == set(), report.not_compliant


def test_every_strategy_passes_cfn_lint(tmp_path):
    """cfn-lint over the service template once per strategy (fixed as its only allowed value), next
    to the delivery template and hook it nests, so the parameters passed down are checked too."""
    files = []
    for strategy in ["ROLLING", *PROGRESSIVE]:
        template = load("service.yaml")
        template["Parameters"]["DeploymentStrategy"].update(
            Default=strategy, AllowedValues=[strategy]
        )
        files.append(tmp_path / f"service-{strategy}.json")
        files[-1].write_text(json.dumps(template))
    files.append(tmp_path / "delivery.yaml")
    shutil.copy(CFN_DIR / "delivery.yaml", files[-1])
    shutil.copytree(CFN_DIR / "hooks", tmp_path / "hooks")
    result = subprocess.run(
        [CFN_LINT, "--ignore-checks", "W3002", "--", *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_root_passes_every_delivery_parameter_with_the_services_limits():
    root, child = load("root.yaml"), load("service.yaml")
    passed = root["Resources"]["Service"]["Properties"]["Parameters"]
    for name in DELIVERY_PARAMETERS:
        assert passed[name] == {"Ref": name}
        for key in ("Type", "Default", "MinValue", "MaxValue", "AllowedValues", "AllowedPattern"):
            assert root["Parameters"][name].get(key) == child["Parameters"][name].get(key), (
                name,
                key,
            )
    stack = render("root.yaml", root_params(ImageTag="0" * 40, DeploymentStrategy="CANARY"))
    assert (
        stack["Resources"]["Service"]["Properties"]["Parameters"]["DeploymentStrategy"] == "CANARY"
    )
