"""Watching ECS: the service's deployments (running/pending/desired) and its new events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from release_tool.deployments import DeploymentFollower

# What ECS says when a deployment alarm fails a rollout: the service event reads
# "(service NAME) (deployment ecs-svc/ID) deployment failed: alarm detected."
ALARM_EVENT = "deployment failed: alarm detected"
ALARM_MARKER = "alarm"


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
    # CANARY, LINEAR, BLUE_GREEN: lifecycle stages and traffic split (silent under ROLLING)
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
