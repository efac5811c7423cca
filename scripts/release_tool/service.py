"""After the stack update: does the ECS service really run the new image, steadily?"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import WaiterError

from release_tool.deadline import Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.rollout import ALARM_MARKER


def wait_stable(ecs: Any, cluster: str, service: str, deadline: Deadline, delay: int = 5) -> None:
    """The services_stable waiter fits here: CloudFormation already waited for the rollout, so
    this normally passes at once; it guards against a deployment that started meanwhile."""
    attempts = max(1, int(deadline.remaining() // delay))
    try:
        ecs.get_waiter("services_stable").wait(
            cluster=cluster,
            services=[service],
            WaiterConfig={"Delay": delay, "MaxAttempts": attempts},
        )
    except WaiterError as error:
        if "Max attempts exceeded" in str(error):
            raise deadline.timed_out(
                f"ECS service {service} not stable yet (more than one deployment, or running !="
                " desired)",
                f"aws ecs describe-services --cluster {cluster} --services {service}",
            ) from None
        raise ReleaseError(
            ExitCode.VERIFY_FAILED, f"ECS service {service} is not usable: {error}"
        ) from None


def verify(ecs: Any, cluster: str, service: str, expected_image: str) -> dict:
    """PRIMARY deployment runs expected_image, rollout COMPLETED, running == desired."""
    found = ecs.describe_services(cluster=cluster, services=[service])["services"]
    if not found or found[0].get("status") != "ACTIVE":
        raise ReleaseError(ExitCode.VERIFY_FAILED, f"ECS service {cluster}/{service} is not active")
    primary = [d for d in found[0].get("deployments", []) if d.get("status") == "PRIMARY"]
    if not primary:
        raise ReleaseError(
            ExitCode.VERIFY_FAILED, f"ECS service {service} has no PRIMARY deployment"
        )
    deployment = primary[0]
    task_definition = ecs.describe_task_definition(taskDefinition=deployment["taskDefinition"])
    images = [c.get("image", "") for c in task_definition["taskDefinition"]["containerDefinitions"]]
    if expected_image not in images:
        raise ReleaseError(
            ExitCode.VERIFY_FAILED,
            f"PRIMARY deployment runs {', '.join(images) or 'no image'}, expected {expected_image}",
        )
    rollout = deployment.get("rolloutState")
    reason = deployment.get("rolloutStateReason", "no reason given")
    if rollout == "FAILED" and ALARM_MARKER in reason.lower():
        raise ReleaseError(
            ExitCode.ALARM_ROLLBACK, f"ECS rollout FAILED on a deployment alarm: {reason}"
        )
    if rollout == "FAILED":
        raise ReleaseError(
            ExitCode.CIRCUIT_BREAKER,
            f"ECS rollout FAILED: {deployment.get('rolloutStateReason', 'no reason given')}",
        )
    if rollout != "COMPLETED":
        raise ReleaseError(ExitCode.VERIFY_FAILED, f"ECS rollout is {rollout}, expected COMPLETED")
    running, desired = deployment.get("runningCount", 0), deployment.get("desiredCount", 0)
    if running != desired or desired == 0:
        raise ReleaseError(
            ExitCode.VERIFY_FAILED, f"ECS service runs {running} tasks of {desired} desired"
        )
    return deployment
