"""Waiting for a stack operation while showing what happens: stack events (nested stacks too) and
the ECS rollout, polled until the stack reaches a final state or --timeout.

Why a polling loop and not the stack_update_complete waiter: a waiter blocks silently until the end,
and a deploy must show events as they happen and notice a failed rollout (circuit breaker) while
CloudFormation is still rolling back. What the final state means is outcome.py's business.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from release_tool.deadline import Deadline
from release_tool.output import Reporter
from release_tool.rollout import RolloutWatcher
from release_tool.stack_events import StackWatcher

THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded"}


def wait_until_final(
    cfn: Any,
    stack: StackWatcher,
    rollout: RolloutWatcher,
    reporter: Reporter,
    deadline: Deadline,
    poll_interval: float,
    stack_name: str,
) -> str:
    """Poll until the stack leaves *_IN_PROGRESS and return its status (printing as it goes);
    at --timeout raise exit 11 with what failed so far."""
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
        # AWS's time of the operation's first stack event: the release's service deployment comes
        # after it, any older one before, whatever this machine's clock says.
        if stack.since is not None and rollout.deployments.since is None:
            rollout.deployments.since = stack.since
        _follow_services(stack, rollout)
        for line in rollout.poll():
            reporter.info(line)
        if not status.endswith("_IN_PROGRESS"):
            return status
        if deadline.expired():
            raise deadline.timed_out(
                f"stack still {status}; CloudFormation carries on",
                f"aws cloudformation describe-stack-events --stack-name {stack_name}",
                details=failure_details(stack, rollout),
            )
        deadline.sleep(poll_interval * (3 if throttled else 1))


def _follow_services(stack: StackWatcher, rollout: RolloutWatcher) -> None:
    """Learn the ECS service from the events (on a first release it appears only now)."""
    if rollout.service is not None:
        return
    for arn in stack.service_arns:
        rollout.follow_arn(arn)


def failure_details(stack: StackWatcher, rollout: RolloutWatcher) -> list[str]:
    details = [f"failed: {line}" for line in stack.failures]
    details += [f"ecs rollout: {reason}" for reason in rollout.failed_reasons]
    return details
