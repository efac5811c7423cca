"""What moto 5.2 lacks for progressive releases, played from AWS's published behaviour:

- ECS service deployments (ListServiceDeployments, DescribeServiceDeployments): each call of
  DescribeServiceDeployments after the change set executed shows the next snapshot of a scripted
  deployment, in the shapes of the ECS API Reference ("ServiceDeployment": lifecycleStage, status,
  targetServiceRevision/sourceServiceRevisions weights, rollback, alarms, deploymentCircuitBreaker,
  lifecycleHookDetails). Every snapshot is validated against botocore's model of that shape. The
  release's deployment is created when the change set executes; the service's older deployments
  (`history`) precede it. ListServiceDeployments honours the createdAt filter (after, before) and
  pages by nextToken, PAGE_SIZE at a time, oldest first (the API promises no order). A page may
  hold fewer than maxResults (botocore's ECS model, nextToken), even none: this one filters each
  page after cutting it, so a caller that stops early misses deployments.
- CloudFormation waits for the service deployment: the AWS::ECS::Service handler polls it (its
  update handler's permissions in the resource schema list ecs:DescribeServiceDeployments and
  ListServiceDeployments; the schema's BakeTimeInMinutes note: the handler timeout grows to 36 h
  for blue/green, linear and canary). So the root stack stays UPDATE_IN_PROGRESS until the
  scripted deployment ends, then UPDATE_COMPLETE, or UPDATE_ROLLBACK_COMPLETE after a rollback.
- DescribeServices reports the service's deploymentConfiguration.strategy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

ARN = "arn:aws:ecs:us-east-1:123456789012"
SERVICE_ARN = f"{ARN}:service/predict-api/predict-api"
OLD_DEPLOYMENT = f"{ARN}:service-deployment/predict-api/predict-api/old0000000000000000"
PAGE_SIZE = 1
NEW_DEPLOYMENT = f"{ARN}:service-deployment/predict-api/predict-api/new1111111111111111"
OLD_REVISION = f"{ARN}:service-revision/predict-api/predict-api/1111"
NEW_REVISION = f"{ARN}:service-revision/predict-api/predict-api/2222"
# The contract check's name as CloudFormation generates it (delivery.yaml sets none).
HOOK_NAME = "predict-api-Service-1R2T3Y4U5-ContractCheckFunction-Q7w8E9r0T1y2"
HOOK_ARN = f"{ARN.replace(':ecs:', ':lambda:')}:function:{HOOK_NAME}"
ALARMS = ["predict-api-app-5xx-rate", "predict-api-app-latency-p99"]
ENDED = {"SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED"}

CANARY_CONFIG = {
    "strategy": "CANARY",
    "bakeTimeInMinutes": 10,
    "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5},
}


def snapshot(
    status: str,
    stage: str,
    production: float | None = 0,
    test: float | None = 0,
    running: int = 2,
    config: dict | None = None,
    alarms: str = "MONITORING",
    triggered: list[str] | None = None,
    breaker: str = "MONITORING",
    hooks: list[dict] | None = None,
    rollback: str | None = None,
) -> dict:
    """One ServiceDeployment as DescribeServiceDeployments returns it."""
    target = {"arn": NEW_REVISION, "requestedTaskCount": 2, "runningTaskCount": running}
    source = {"arn": OLD_REVISION, "requestedTaskCount": 2, "runningTaskCount": 2}
    if production is not None:
        target["requestedProductionTrafficWeight"] = production
        source["requestedProductionTrafficWeight"] = 100 - production
    if test is not None:
        target["requestedTestTrafficWeight"] = test
        source["requestedTestTrafficWeight"] = 100 - test
    deployment = {
        "serviceDeploymentArn": NEW_DEPLOYMENT,
        "serviceArn": SERVICE_ARN,
        "clusterArn": f"{ARN}:cluster/predict-api",
        "createdAt": datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
        "status": status,
        "lifecycleStage": stage,
        "targetServiceRevision": target,
        "sourceServiceRevisions": [source],
        "deploymentConfiguration": {
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
            **(config if config is not None else CANARY_CONFIG),
        },
        "alarms": {"status": alarms, "alarmNames": ALARMS, "triggeredAlarmNames": triggered or []},
        "deploymentCircuitBreaker": {"status": breaker, "failureCount": 0, "threshold": 3},
    }
    if hooks:
        deployment["lifecycleHookDetails"] = hooks
    if rollback:
        deployment["rollback"] = {
            "reason": rollback,
            "startedAt": datetime(2026, 12, 2, 12, 30, tzinfo=UTC),
            "serviceRevisionArn": OLD_REVISION,
        }
    return deployment


def hook(status: str, kind: str = "AWS_LAMBDA", hook_id: str = "hook-1") -> dict:
    detail = {"hookId": hook_id, "targetType": kind, "status": status, "timeoutAction": "ROLLBACK"}
    if kind == "AWS_LAMBDA":
        detail["targetArn"] = HOOK_ARN
    return detail


def canary_until(stage: str) -> list[dict]:
    """A canary release's snapshots up to (not including) `stage`, all well."""
    steps = [
        snapshot("IN_PROGRESS", "PRE_SCALE_UP", running=0),
        snapshot("IN_PROGRESS", "SCALE_UP", running=1),
        snapshot("IN_PROGRESS", "POST_SCALE_UP"),
        snapshot("IN_PROGRESS", "TEST_TRAFFIC_SHIFT", test=100),
        snapshot("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=100, hooks=[hook("IN_PROGRESS")]),
        snapshot("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=100, hooks=[hook("SUCCEEDED")]),
        snapshot("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", production=10, test=100),
        snapshot("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", production=100, test=100),
        snapshot("IN_PROGRESS", "BAKE_TIME", production=100, test=100),
        snapshot("IN_PROGRESS", "CLEAN_UP", production=100, test=100),
    ]
    stages = [s["lifecycleStage"] for s in steps]
    return steps[: stages.index(stage)] if stage in stages else steps


def older(arn: str, status: str, days_ago: float, **details) -> dict:
    """A deployment of the service from before the release, as DescribeServiceDeployments shows
    it (`details` as for snapshot)."""
    deployment = snapshot(status, "CLEAN_UP", **details)
    deployment["serviceDeploymentArn"] = arn
    deployment["createdAt"] = datetime.now(UTC) - timedelta(days=days_ago)
    return _validated(deployment)


@dataclass
class DeploymentPlayer:
    strategy: str
    script: list[dict]
    history: list[dict] = field(default_factory=list)  # the service's older deployments
    started: datetime | None = None  # when the change set executed: the release's deployment
    shown: int = 0
    calls: list[str] = field(default_factory=list)
    list_requests: list[dict] = field(default_factory=list)

    def current(self) -> dict | None:
        if not self.shown:
            return None
        return {**self.script[self.shown - 1], "createdAt": self.started}

    def deployments(self) -> list[dict]:
        """Every deployment of the service so far, oldest first."""
        found = list(self.history)
        if self.started:
            found.append(self.current() or {**self.script[0], "createdAt": self.started})
        return sorted(found, key=lambda d: d["createdAt"])

    def ended(self) -> bool:
        current = self.current()
        return current is not None and current["status"] in ENDED


_SHAPES = botocore.session.get_session().get_service_model("ecs")


def _validated(deployment: dict) -> dict:
    report = ParamValidator().validate(deployment, _SHAPES.shape_for("ServiceDeployment"))
    assert not report.has_errors(), report.generate_report()
    return deployment


def _answer(parsed: dict) -> tuple[AWSResponse, dict]:
    return AWSResponse("https://ecs.stand-in", 200, {}, None), parsed


def _created_between(deployment: dict, window: dict) -> bool:
    created = deployment["createdAt"].timestamp()
    return window.get("after", float("-inf")) <= created <= window.get("before", float("inf"))


def _brief(deployment: dict) -> dict:
    """The deployment as ListServiceDeployments lists it (ServiceDeploymentBrief)."""
    keys = ("serviceDeploymentArn", "serviceArn", "clusterArn", "createdAt", "status")
    return {key: deployment[key] for key in keys}


def play_service_deployments(
    session: boto3.session.Session,
    strategy: str,
    script: list[dict],
    history: list[dict] | None = None,
) -> DeploymentPlayer:
    history = history if history is not None else [older(OLD_DEPLOYMENT, "SUCCESSFUL", 1)]
    player = DeploymentPlayer(strategy, [_validated(s) for s in script], history)

    def list_deployments(params, **_kwargs):
        player.calls.append("ListServiceDeployments")
        request = json.loads(params["body"])
        player.list_requests.append(request)
        start = int(request.get("nextToken") or 0)
        every = player.deployments()
        page = every[start : start + PAGE_SIZE]
        window = request.get("createdAt") or {}
        answer = {"serviceDeployments": [_brief(d) for d in page if _created_between(d, window)]}
        if start + PAGE_SIZE < len(every):
            answer["nextToken"] = str(start + PAGE_SIZE)
        return _answer(answer)

    def describe_deployments(params, **_kwargs):
        player.calls.append("DescribeServiceDeployments")
        wanted = json.loads(params["body"])["serviceDeploymentArns"]
        if NEW_DEPLOYMENT in wanted:
            player.shown = min(player.shown + 1, len(player.script))
        found = [d for d in player.deployments() if d["serviceDeploymentArn"] in wanted]
        return _answer({"serviceDeployments": found, "failures": []})

    def after_execute(**_kwargs):
        player.started = datetime.now(UTC)

    def services_strategy(parsed, **_kwargs):
        for found in parsed.get("services") or []:
            found.setdefault("deploymentConfiguration", {})["strategy"] = player.strategy

    def stack_waits_for_the_deployment(parsed, **_kwargs):
        if not player.started:
            return
        current = player.current()
        for found in parsed.get("Stacks") or []:
            if not player.ended():
                found["StackStatus"] = "UPDATE_IN_PROGRESS"
            elif current["status"] != "SUCCESSFUL":
                found["StackStatus"] = "UPDATE_ROLLBACK_COMPLETE"

    events = session.events
    events.register("before-call.ecs.ListServiceDeployments", list_deployments)
    events.register("before-call.ecs.DescribeServiceDeployments", describe_deployments)
    events.register("after-call.cloudformation.ExecuteChangeSet", after_execute)
    events.register("after-call.ecs.DescribeServices", services_strategy)
    events.register("after-call.cloudformation.DescribeStacks", stack_waits_for_the_deployment)
    return player
