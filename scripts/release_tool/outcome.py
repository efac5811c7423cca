"""Deciding: what a stack operation's final state and the watchers' findings mean, as an exit
code (errors.py) and one line saying what to do."""

from __future__ import annotations

from release_tool.errors import ExitCode, ReleaseError
from release_tool.progress import failure_details
from release_tool.rollout import RolloutWatcher
from release_tool.stack_events import StackWatcher

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def judge(
    status: str,
    stack: StackWatcher,
    rollout: RolloutWatcher,
    operation: str = "update",
    advice: str = "the previous image keeps serving",
) -> str:
    """Return status when the operation succeeded, else raise the matching ReleaseError."""
    details = failure_details(stack, rollout)
    if ended := rollout.deployments.ending():  # CANARY, LINEAR, BLUE_GREEN: the hook tells apart
        raise ReleaseError(ended.code, f"{ended.message}; stack ended in {status}", details)
    if rollout.alarm_triggered:
        names = ", ".join(rollout.alarm_names) or "(names not readable)"
        raise ReleaseError(
            ExitCode.ALARM_ROLLBACK,
            f"ECS deployment alarm went into ALARM ({names}); ECS rolled the service back to the "
            f"previous deployment; stack ended in {status}",
            details=details,
        )
    if rollout.failed_reasons:
        raise ReleaseError(
            ExitCode.CIRCUIT_BREAKER,
            f"ECS deployment failed ({rollout.failed_reasons[0]}); stack ended in {status}",
            details=details,
        )
    if status not in SUCCESS:
        raise ReleaseError(
            ExitCode.STACK_ROLLED_BACK,
            f"stack {operation} failed and ended in {status}; {advice}",
            details=details,
        )
    return status
