"""Following a CANARY, LINEAR or BLUE_GREEN release through ECS's service-deployment API
(ListServiceDeployments, DescribeServiceDeployments): each lifecycle stage, the traffic split, the
hooks, and how it ended. Shapes: ECS API Reference, "ServiceDeployment" (lifecycleStage, status,
rollback, alarms, deploymentCircuitBreaker, lifecycleHookDetails).

Watching (DeploymentFollower.poll) is kept apart from deciding (ending): the exit code of an ending
is a pure function of what was seen, so each way a release ends is tested on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from release_tool.errors import ExitCode

TRAFFIC_MOVING = {"CANARY", "LINEAR", "BLUE_GREEN"}
RUNNING = {"PENDING", "IN_PROGRESS"}
ROLLED_BACK = {
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_SUCCESSFUL",
    "ROLLBACK_FAILED",
}
# Stages before any production traffic moved: a rollback here was decided by a lifecycle hook
# (the contract check, or an approval refused or timed out) when no alarm or circuit breaker fired.
BEFORE_PRODUCTION = {
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
}
HOOK_FAILED = {"FAILED", "TIMED_OUT"}
# Minutes a release needs beyond its bakes: new tasks start and turn healthy, the hook runs, the
# old tasks drain (30 s deregistration delay).
OVERHEAD_MINUTES = 5


@dataclass
class Seen:
    """What the follower saw of one service deployment, all that deciding needs."""

    status: str = "PENDING"
    stage: str | None = None
    stage_at_rollback: str | None = None
    triggered_alarms: list[str] = field(default_factory=list)
    circuit_breaker_triggered: bool = False
    failed_hooks: list[str] = field(default_factory=list)
    rollback_reason: str | None = None
    status_reason: str | None = None


@dataclass
class Ending:
    code: ExitCode
    message: str


def ending(seen: Seen) -> Ending | None:
    """How a release that ECS rolled back ended; None while it runs or when it succeeded."""
    if seen.status in RUNNING or seen.status == "SUCCESSFUL":
        return None
    reason = seen.rollback_reason or seen.status_reason or "no reason given"
    if seen.triggered_alarms:
        return Ending(
            ExitCode.ALARM_ROLLBACK,
            f"deployment alarm {', '.join(seen.triggered_alarms)} went into ALARM during "
            f"{seen.stage_at_rollback or seen.stage}; ECS moved all traffic back to the previous "
            "revision",
        )
    if seen.circuit_breaker_triggered:
        return Ending(
            ExitCode.CIRCUIT_BREAKER,
            f"the new tasks failed to start or turn healthy (circuit breaker): {reason}",
        )
    hook_stage = (seen.stage_at_rollback or seen.stage) in BEFORE_PRODUCTION
    if seen.failed_hooks or (seen.status in ROLLED_BACK and hook_stage):
        hooks = ", ".join(seen.failed_hooks) or "a lifecycle hook"
        return Ending(
            ExitCode.HOOK_ROLLBACK,
            f"{hooks} failed the new tasks before production traffic moved: {reason}",
        )
    if seen.status in ROLLED_BACK:
        return Ending(ExitCode.VERIFY_FAILED, f"ECS rolled the release back: {reason}")
    return Ending(ExitCode.VERIFY_FAILED, f"the service deployment ended {seen.status}: {reason}")


def needed_minutes(config: dict) -> int:
    """The least time a release with this deploymentConfiguration takes (bakes + overhead)."""
    minutes = int(config.get("bakeTimeInMinutes") or 0) + OVERHEAD_MINUTES
    if config.get("strategy") == "CANARY":
        minutes += int((config.get("canaryConfiguration") or {}).get("canaryBakeTimeInMinutes", 0))
    if config.get("strategy") == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step = float(linear.get("stepPercent") or 100)
        steps = int(100 // step) - (1 if 100 % step == 0 else 0)
        minutes += steps * int(linear.get("stepBakeTimeInMinutes") or 0)
    return minutes


@dataclass
class DeploymentFollower:
    """Prints the stages and traffic split of the service deployments a release starts."""

    # AWS's time of the stack operation's first event: only deployments created since are listed
    # (ListServiceDeployments' createdAt filter), so an older one is never taken for the release's.
    since: datetime | None = None
    baseline: set[str] | None = None  # without `since`: the deployments listed first are history
    followed: dict[str, Seen] = field(default_factory=dict)
    last_line: dict[str, str] = field(default_factory=dict)
    said: set[str] = field(default_factory=set)
    remaining: Callable[[], float] | None = None  # seconds left of --timeout

    def poll(self, ecs: Any, service: dict) -> list[str]:
        strategy = (service.get("deploymentConfiguration") or {}).get("strategy")
        if strategy not in TRAFFIC_MOVING and not self.followed:
            return []
        try:
            briefs = self._list(ecs, service)
        except (ClientError, KeyError) as error:
            return self._say_once("list", f"cannot list the service deployments ({error})")
        arns = [b["serviceDeploymentArn"] for b in briefs]
        if self.baseline is None:
            self.baseline = set() if self.since else set(arns)
            if not self.since:
                return []
        new = [arn for arn in arns if arn not in self.baseline]
        if not new:
            return []
        try:
            found = ecs.describe_service_deployments(serviceDeploymentArns=new)[
                "serviceDeployments"
            ]
        except ClientError as error:
            return self._say_once("describe", f"cannot read the service deployments ({error})")
        remaining_seconds = self.remaining() if self.remaining else None
        lines: list[str] = []
        for deployment in sorted(found, key=lambda d: str(d.get("createdAt") or "")):
            lines += self._follow(deployment, remaining_seconds)
        return lines

    def _list(self, ecs: Any, service: dict) -> list[dict]:
        """Every page: one may hold fewer deployments than asked for, even none, and still say
        that more follow (nextToken)."""
        request: dict[str, Any] = {
            "cluster": service["clusterArn"],
            "service": service["serviceName"],
        }
        if self.since:
            request["createdAt"] = {"after": self.since}
        briefs: list[dict] = []
        while True:
            page = ecs.list_service_deployments(**request)
            briefs += page["serviceDeployments"]
            if not page.get("nextToken"):
                return briefs
            request["nextToken"] = page["nextToken"]

    def ending(self) -> Ending | None:
        """The ending of the newest followed deployment (the release's own)."""
        if not self.followed:
            return None
        return ending(list(self.followed.values())[-1])

    def _follow(self, deployment: dict, remaining_seconds: float | None) -> list[str]:
        arn = deployment["serviceDeploymentArn"]
        short = arn.rsplit("/", 1)[-1]
        lines: list[str] = []
        seen = self.followed.get(arn)
        if seen is None:
            seen = self.followed[arn] = Seen()
            lines += self._first_look(deployment, short, remaining_seconds)
        self._update(seen, deployment)
        line = f"deployment {short} {seen.status} stage {seen.stage or '-'}: {traffic(deployment)}"
        if self.last_line.get(arn) != line:
            self.last_line[arn] = line
            lines.append(line)
        for hook in deployment.get("lifecycleHookDetails") or []:
            lines += self._hook_lines(arn, hook)
        return lines

    def _first_look(self, deployment: dict, short: str, remaining: float | None) -> list[str]:
        config = deployment.get("deploymentConfiguration") or {}
        strategy = config.get("strategy") or "ROLLING"
        if strategy not in TRAFFIC_MOVING:
            return [
                f"deployment {short} rolls (strategy {strategy}): ECS switches a service's "
                "strategy with a rolling deployment; the next release moves traffic step by step"
            ]
        minutes = needed_minutes(config)
        lines = [f"deployment {short}: {strategy}, at least {minutes} min with its bakes"]
        if remaining is not None and remaining < minutes * 60:
            lines.append(
                f"warning: --timeout leaves {remaining / 60:.0f} min, less than this {strategy} "
                f"release needs ({minutes} min): raise --timeout"
            )
        return lines

    def _hook_lines(self, arn: str, hook: dict) -> list[str]:
        key = f"{arn}/{hook.get('hookId')}/{hook.get('status')}"
        if key in self.said:
            return []
        self.said.add(key)
        kind = hook.get("targetType", "hook")
        name = (hook.get("targetArn") or "").rsplit(":", 1)[-1] or kind
        if hook.get("status") == "AWAITING_ACTION":
            return [
                f"hook {name} waits for approval: aws ecs continue-service-deployment "
                f"--service-deployment-arn {arn} --hook-id {hook.get('hookId')} --action CONTINUE "
                "(or --action ROLLBACK)"
            ]
        return [f"hook {name} ({kind}): {hook.get('status')}"]

    @staticmethod
    def _update(seen: Seen, deployment: dict) -> None:
        previous_stage = seen.stage
        seen.status = deployment.get("status", seen.status)
        seen.stage = deployment.get("lifecycleStage") or seen.stage
        seen.status_reason = deployment.get("statusReason") or seen.status_reason
        rollback = deployment.get("rollback") or {}
        if rollback.get("reason"):
            seen.rollback_reason = rollback["reason"]
        if seen.status in ROLLED_BACK and seen.stage_at_rollback is None:
            # The stage the rollback interrupted: the one before ECS started moving back.
            seen.stage_at_rollback = previous_stage or seen.stage
        alarms = deployment.get("alarms") or {}
        if alarms.get("status") == "TRIGGERED":
            seen.triggered_alarms = list(alarms.get("triggeredAlarmNames") or ["(unnamed)"])
        breaker = deployment.get("deploymentCircuitBreaker") or {}
        seen.circuit_breaker_triggered |= breaker.get("status") == "TRIGGERED"
        for hook in deployment.get("lifecycleHookDetails") or []:
            if hook.get("status") in HOOK_FAILED:
                name = (hook.get("targetArn") or "").rsplit(":", 1)[-1] or hook.get("targetType")
                label = f"hook {name} ({hook['status']})"
                if label not in seen.failed_hooks:
                    seen.failed_hooks.append(label)

    def _say_once(self, key: str, line: str) -> list[str]:
        if key in self.said:
            return []
        self.said.add(key)
        return [f"{line}; carrying on with the stack events"]


def traffic(deployment: dict) -> str:
    """'production new 10% / old 90%, test new 100%' from the revisions' requested weights."""
    target = deployment.get("targetServiceRevision") or {}
    sources = deployment.get("sourceServiceRevisions") or []
    new = target.get("requestedProductionTrafficWeight")
    if new is None:
        return (
            f"tasks new {target.get('runningTaskCount', 0)}/{target.get('requestedTaskCount', 0)}"
        )
    old = sum(s.get("requestedProductionTrafficWeight") or 0 for s in sources)
    test = target.get("requestedTestTrafficWeight")
    split = f"production new {new:g}% / old {old:g}%"
    if test is not None:
        split += f", test new {test:g}%"
    tasks = f"tasks new {target.get('runningTaskCount', 0)}/{target.get('requestedTaskCount', 0)}"
    return f"{split}; {tasks}"
