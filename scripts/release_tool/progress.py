"""Waiting for the stack update while showing what happens.

Why a polling loop and not the stack_update_complete waiter: a waiter blocks silently until the end,
and a release must show stack events (of the nested stacks too) and the ECS rollout as they happen,
and must notice a failed rollout (circuit breaker) while CloudFormation is still rolling back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from release_tool.deployments import DeploymentFollower
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter

NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"
SERVICE_TYPE = "AWS::ECS::Service"
SUCCESS = {"UPDATE_COMPLETE"}
# What ECS says when a deployment alarm fails a rollout: the service event reads
# "(service NAME) (deployment ecs-svc/ID) deployment failed: alarm detected."
ALARM_EVENT = "deployment failed: alarm detected"
ALARM_MARKER = "alarm"
THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded"}


@dataclass
class Clock:
    """Injected so that tests can run a 30-minute timeout in no time."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class Deadline:
    """--timeout: one bound for everything after the build (push, scan, change set, update,
    verification, health check), so that a CI job limit above it can be computed."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self.seconds = seconds
        self.clock = clock
        self.end = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline."""
        self.clock.sleep(min(seconds, self.remaining()))

    def timed_out(
        self, message: str, watch: str | None, details: list[str] | None = None
    ) -> ReleaseError:
        follow = f"; keep watching with `{watch}`" if watch else ""
        return ReleaseError(
            ExitCode.TIMEOUT, f"--timeout {self.seconds:.0f} s reached: {message}{follow}", details
        )


def newest_event_id(cfn: Any, stack_id: str) -> str | None:
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    return events[0]["EventId"] if events else None


def format_event(event: dict, label: str) -> str:
    stamp = event["Timestamp"].strftime("%H:%M:%S")
    where = f"{label}/" if label else ""
    reason = event.get("ResourceStatusReason")
    line = (
        f"{stamp} {event['ResourceStatus']:<36} {event['ResourceType']:<34} "
        f"{where}{event['LogicalResourceId']}"
    )
    return f"{line}: {reason}" if reason else line


@dataclass
class StackWatcher:
    """Reports new events of the root stack and of every nested stack it touches."""

    cfn: Any
    root_id: str
    baseline_event_id: str | None
    seen: set[str] = field(default_factory=set)
    stacks: dict[str, str] = field(default_factory=dict)  # stack id -> label printed before events
    since: datetime | None = None
    failures: list[str] = field(default_factory=list)
    service_arns: list[str] = field(default_factory=list)  # ECS services seen in the events

    def __post_init__(self) -> None:
        self.stacks.setdefault(self.root_id, "")

    def poll(self) -> list[str]:
        new: list[tuple[datetime, str]] = []
        polled: set[str] = set()
        while todo := [stack_id for stack_id in self.stacks if stack_id not in polled]:
            stack_id = todo[0]  # nested stacks found on the way are read in this same poll
            polled.add(stack_id)
            label = self.stacks[stack_id]
            for event in self._new_events(stack_id):
                self.seen.add(event["EventId"])
                self._discover_nested(event, stack_id)
                self._discover_service(event)
                line = format_event(event, label)
                if event["ResourceStatus"].endswith("_FAILED") and event.get(
                    "ResourceStatusReason"
                ):
                    self.failures.append(line)
                new.append((event["Timestamp"], line))
        return [line for _, line in sorted(new, key=lambda item: item[0])]

    def _new_events(self, stack_id: str) -> list[dict]:
        """Events newer than the release's start, oldest first (the API lists newest first)."""
        found: list[dict] = []
        kwargs: dict[str, str] = {"StackName": stack_id}
        while True:
            page = self.cfn.describe_stack_events(**kwargs)
            for event in page["StackEvents"]:
                if event["EventId"] in self.seen or self._before_release(event, stack_id):
                    return list(reversed(found))
                found.append(event)
            if not page.get("NextToken"):
                return list(reversed(found))
            kwargs["NextToken"] = page["NextToken"]

    def _before_release(self, event: dict, stack_id: str) -> bool:
        # Root events are cut at the newest event seen before executing (no clock involved);
        # nested stacks' events at the time of the first root event of this release (server time).
        if stack_id == self.root_id:
            if event["EventId"] == self.baseline_event_id:
                return True
            if self.since is None or event["Timestamp"] < self.since:
                self.since = event["Timestamp"]
            return False
        return self.since is not None and event["Timestamp"] < self.since

    def _discover_service(self, event: dict) -> None:
        physical = event.get("PhysicalResourceId") or ""
        is_service = event["ResourceType"] == SERVICE_TYPE and physical.startswith("arn:")
        if is_service and physical not in self.service_arns:
            self.service_arns.append(physical)

    def _discover_nested(self, event: dict, parent_id: str) -> None:
        physical = event.get("PhysicalResourceId") or ""
        if (
            event["ResourceType"] == NESTED_STACK_TYPE
            and physical.startswith("arn:")
            and physical != parent_id
            and physical not in self.stacks
        ):
            parent_label = self.stacks.get(parent_id, "")
            logical = event["LogicalResourceId"]
            self.stacks[physical] = f"{parent_label}/{logical}" if parent_label else logical


@dataclass
class RolloutWatcher:
    """Reports the ECS service's deployments (running/pending/desired) and new service events."""

    ecs: Any
    cluster: str | None = None
    service: str | None = None
    last_lines: list[str] = field(default_factory=list)
    seen_events: set[str] | None = None
    failed_reasons: list[str] = field(default_factory=list)
    alarm_names: list[str] = field(default_factory=list)
    alarm_triggered: bool = False
    errors_said: set[str] = field(default_factory=set)
    deployments: DeploymentFollower = field(default_factory=DeploymentFollower)

    def follow_arn(self, arn: str) -> None:
        """arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME -> watch it (first one wins)."""
        parts = arn.split(":", 5)[-1].split("/")
        if self.service is None and len(parts) == 3 and parts[0] == "service":
            self.cluster, self.service = parts[1], parts[2]

    def poll(self) -> list[str]:
        if not (self.cluster and self.service):
            return []
        try:
            found = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        except ClientError as error:
            return self._say_once(error)
        if not found["services"]:
            return []
        service = found["services"][0]
        alarms = (service.get("deploymentConfiguration") or {}).get("alarms") or {}
        if alarms.get("enable"):
            self.alarm_names = list(alarms.get("alarmNames") or [])
        lines = [self._deployment_line(d) for d in service.get("deployments", [])]
        for deployment in service.get("deployments", []):
            if deployment.get("rolloutState") == "FAILED":
                reason = deployment.get("rolloutStateReason") or "rollout failed"
                if ALARM_MARKER in reason.lower():
                    self.alarm_triggered = True
                if reason not in self.failed_reasons:
                    self.failed_reasons.append(reason)
        report = [] if lines == self.last_lines else lines
        self.last_lines = lines
        return report + self._new_service_events(service) + self.deployments.poll(self.ecs, service)

    def _say_once(self, error: ClientError) -> list[str]:
        """The service may not exist yet (first release): silence. Anything else (AccessDenied,
        throttling) is said once; the release carries on with the stack events."""
        code = error.response.get("Error", {}).get("Code", "error")
        if code in ("ServiceNotFoundException", "ClusterNotFoundException"):
            return []
        if code in self.errors_said:
            return []
        self.errors_said.add(code)
        message = error.response.get("Error", {}).get("Message", "")
        return [
            f"cannot read ECS service {self.service} ({code}: {message}); carrying on without "
            "the rollout view"
        ]

    @staticmethod
    def _deployment_line(deployment: dict) -> str:
        return (
            f"ecs {deployment.get('status')} {deployment.get('taskDefinition', '').split('/')[-1]} "
            f"{deployment.get('rolloutState', '-')}: running {deployment.get('runningCount', 0)}"
            f" pending {deployment.get('pendingCount', 0)}"
            f" desired {deployment.get('desiredCount', 0)}"
            f" failed {deployment.get('failedTasks', 0)}"
        )

    def _new_service_events(self, service: dict) -> list[str]:
        events = service.get("events") or []
        if self.seen_events is None:  # first look: what happened before this release is history
            self.seen_events = {e["id"] for e in events}
            return []
        fresh = [e for e in events if e["id"] not in self.seen_events]
        self.seen_events.update(e["id"] for e in fresh)
        if any(ALARM_EVENT in e["message"] for e in fresh):
            self.alarm_triggered = True
        return [f"ecs event: {e['message']}" for e in reversed(fresh)]


def wait_for_update(
    cfn: Any,
    stack: StackWatcher,
    rollout: RolloutWatcher,
    reporter: Reporter,
    deadline: Deadline,
    poll_interval: float,
    stack_name: str,
) -> str:
    """Poll until the stack is in a final state: return UPDATE_COMPLETE or raise with reasons."""
    throttled = False
    rollout.deployments.remaining = deadline.remaining  # --timeout covers the bakes
    while True:
        try:
            status = cfn.describe_stacks(StackName=stack.root_id)["Stacks"][0]["StackStatus"]
            for line in stack.poll():
                reporter.info(line)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in THROTTLED:
                raise
            if not throttled:
                reporter.info("CloudFormation is throttling the event reads; slowing down")
                throttled = True
            status = "UPDATE_IN_PROGRESS"
        _follow_services(stack, rollout)
        for line in rollout.poll():
            reporter.info(line)
        if not status.endswith("_IN_PROGRESS"):
            break
        if deadline.expired():
            raise deadline.timed_out(
                f"stack still {status}; CloudFormation carries on",
                f"aws cloudformation describe-stack-events --stack-name {stack_name}",
                details=_failure_details(stack, rollout),
            )
        deadline.sleep(poll_interval * (3 if throttled else 1))
    if ended := rollout.deployments.ending():  # CANARY, LINEAR, BLUE_GREEN: the hook tells apart
        raise ReleaseError(
            ended.code,
            f"{ended.message}; stack ended in {status}",
            _failure_details(stack, rollout),
        )
    if rollout.alarm_triggered:
        names = ", ".join(rollout.alarm_names) or "(names not readable)"
        raise ReleaseError(
            ExitCode.ALARM_ROLLBACK,
            f"ECS deployment alarm went into ALARM ({names}); ECS rolled the service back to the "
            f"previous deployment; stack ended in {status}",
            details=_failure_details(stack, rollout),
        )
    if rollout.failed_reasons:
        raise ReleaseError(
            ExitCode.CIRCUIT_BREAKER,
            f"ECS deployment failed ({rollout.failed_reasons[0]}); stack ended in {status}",
            details=_failure_details(stack, rollout),
        )
    if status not in SUCCESS:
        raise ReleaseError(
            ExitCode.STACK_ROLLED_BACK,
            f"stack update failed and ended in {status}; the previous image keeps serving",
            details=_failure_details(stack, rollout),
        )
    return status


def _follow_services(stack: StackWatcher, rollout: RolloutWatcher) -> None:
    """Learn the ECS service from the events (on a first release it appears only now)."""
    if rollout.service is not None:
        return
    for arn in stack.service_arns:
        rollout.follow_arn(arn)


def _failure_details(stack: StackWatcher, rollout: RolloutWatcher) -> list[str]:
    details = [f"failed: {line}" for line in stack.failures]
    details += [f"ecs rollout: {reason}" for reason in rollout.failed_reasons]
    return details
