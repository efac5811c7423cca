"""The root CloudFormation stack: state checks, outputs, and the ImageTag-only change set."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from release_tool.deadline import Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.stack_events import NESTED_STACK_TYPE
from release_tool.workspace import PLATFORM_BY_CPU_ARCHITECTURE

IMAGE_TAG_PARAMETER = "ImageTag"
# The load balancer's: off until the service has been healthy (release.py, infra.py).
PROTECTION_PARAMETER = "DeletionProtection"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]

# States a release may start from: the last operation finished and the stack is usable.
RELEASABLE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
INFRA_COMMAND = "scripts/release.sh infra"
# Final, unusable states and what the user has to do about each (UPDATE_ROLLBACK_FAILED and
# ROLLBACK_FAILED name the failed resources too: see advice()).
BROKEN_ADVICE = {
    "ROLLBACK_COMPLETE": (
        f"its creation failed and nothing of it runs; `{INFRA_COMMAND}` deletes it and creates it "
        "again"
    ),
    "ROLLBACK_FAILED": "its creation failed and could not be rolled back",
    "CREATE_FAILED": f"its creation failed; delete it, then run `{INFRA_COMMAND}`",
    "DELETE_FAILED": "a deletion failed; finish deleting it",
    "UPDATE_ROLLBACK_FAILED": "a rollback failed",
    "UPDATE_FAILED": "an update failed; inspect its events",
    "REVIEW_IN_PROGRESS": f"it was never created (only a change set exists); run `{INFRA_COMMAND}`",
}
CHANGE_SET_POLL_SECONDS = 3
NO_RESOURCE_CHANGES = "(CloudFormation reported no resource changes)"
NO_CHANGES_MARKERS = ("didn't contain changes", "No updates are to be performed")


def describe(cfn: Any, stack_name: str) -> dict:
    """The stack, or STACK_NOT_READY when it does not exist."""
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            raise ReleaseError(
                ExitCode.STACK_NOT_READY,
                f"stack {stack_name!r} not found in {cfn.meta.region_name}; "
                f"deploy the infrastructure first (`{INFRA_COMMAND}`)",
            ) from None
        raise


def find(cfn: Any, stack_name: str) -> dict | None:
    """The stack, or None when there is none (a deleted stack is none)."""
    try:
        return describe(cfn, stack_name)
    except ReleaseError:
        return None


def failed_resources(cfn: Any, stack_id: str, status: str, prefix: str = "") -> list[str]:
    """Logical ids of the resources in `status` (e.g. UPDATE_FAILED), nested stacks' resources
    as NestedLogicalId.ResourceLogicalId: the form --resources-to-skip and --retain-resources take.
    A failed nested stack is named through its own failed resources."""
    found: list[str] = []
    for resource in cfn.describe_stack_resources(StackName=stack_id)["StackResources"]:
        if resource.get("ResourceStatus") != status:
            continue
        logical = f"{prefix}{resource['LogicalResourceId']}"
        nested = resource.get("PhysicalResourceId") or ""
        if resource["ResourceType"] == NESTED_STACK_TYPE and nested.startswith("arn:"):
            inner = failed_resources(cfn, nested, status, f"{logical}.")
            found.extend(inner or [logical])
        else:
            found.append(logical)
    return found


def advice(cfn: Any, stack: dict) -> str:
    """What to do about a stack in a final, unusable state: one sentence, commands included."""
    name, status = stack["StackName"], stack["StackStatus"]
    text = BROKEN_ADVICE.get(status, "inspect its events")
    if status == "UPDATE_ROLLBACK_FAILED":
        skip = failed_resources(cfn, stack["StackId"], "UPDATE_FAILED")
        option = f" --resources-to-skip {' '.join(skip)}" if skip else ""
        return (
            f"{text}; run `aws cloudformation continue-update-rollback --stack-name {name}"
            f"{option}` (skipped resources keep their current state), then `{INFRA_COMMAND}`"
        )
    if status in ("ROLLBACK_FAILED", "DELETE_FAILED"):
        kept = failed_resources(cfn, stack["StackId"], "DELETE_FAILED")
        option = f" --retain-resources {' '.join(kept)}" if kept else ""
        return (
            f"{text}; run `aws cloudformation delete-stack --stack-name {name}{option}` (delete "
            f"retained resources by hand: a load balancer needs deletion protection off first), "
            f"then `{INFRA_COMMAND}`"
        )
    return text


def require_releasable(stack: dict, cfn: Any = None) -> None:
    """Refuse busy or broken stacks with a message that says what to do."""
    name, status = stack["StackName"], stack["StackStatus"]
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise ReleaseError(
            ExitCode.STACK_BUSY,
            f"stack {name!r} is busy ({status}); wait for that operation to finish, then retry",
        )
    if status not in RELEASABLE:
        text = advice(cfn, stack) if cfn is not None else BROKEN_ADVICE.get(status, "")
        raise ReleaseError(ExitCode.STACK_NOT_READY, f"stack {name!r} is in {status}: {text}")
    if IMAGE_TAG_PARAMETER not in parameters(stack):
        raise ReleaseError(
            ExitCode.STACK_NOT_READY,
            f"stack {name!r} has no {IMAGE_TAG_PARAMETER} parameter; is it the root stack?",
        )


def platform(stack: dict) -> str:
    """The image platform for the stack's CpuArchitecture; a stack without it runs X86_64 (Fargate's
    default)."""
    architecture = parameters(stack).get("CpuArchitecture") or "X86_64"
    return PLATFORM_BY_CPU_ARCHITECTURE.get(architecture, "linux/amd64")


def outputs(stack: dict) -> dict[str, str]:
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs") or []}


def parameters(stack: dict) -> dict[str, str]:
    return {
        item["ParameterKey"]: item.get("ParameterValue", "")
        for item in stack.get("Parameters") or []
    }


def require_output(stack: dict, key: str) -> str:
    value = outputs(stack).get(key)
    if not value:
        raise ReleaseError(
            ExitCode.STACK_NOT_READY,
            f"stack {stack['StackName']!r} has no output {key}; was the infrastructure deployed "
            "from cloudformation/root.yaml?",
        )
    return value


def release_parameters(stack: dict, tag: str, changes: dict | None = None) -> list[dict]:
    """ImageTag (and `changes`) get new values; every other parameter keeps its previous value."""
    new = {IMAGE_TAG_PARAMETER: tag, **(changes or {})}
    return [
        {"ParameterKey": key, "ParameterValue": new[key]}
        if key in new
        else {"ParameterKey": key, "UsePreviousValue": True}
        for key in parameters(stack)
    ]


def change_set_name(tag: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"release-{tag[:12]}-{stamp}"


def create_change_set(
    cfn: Any,
    stack: dict,
    tag: str,
    name: str,
    deadline: Deadline,
    reporter: Reporter,
    changes: dict | None = None,
) -> str | None:
    """Create the change set and wait for it; None when CloudFormation sees nothing to change.
    A change set that fails, or is not ready within --timeout, is deleted: nothing is left."""
    try:
        change_set_id = cfn.create_change_set(
            StackName=stack["StackName"],
            ChangeSetName=name,
            ChangeSetType="UPDATE",
            UsePreviousTemplate=True,
            Parameters=release_parameters(stack, tag, changes),
            Capabilities=CAPABILITIES,
            IncludeNestedStacks=True,
            Description=f"release {tag} (scripts/release.sh)",
        )["Id"]
    except ClientError as error:
        raise _busy_or(error, stack["StackName"], ExitCode.CHANGE_SET_FAILED) from None
    return wait_for_change_set(cfn, change_set_id, name, stack["StackName"], deadline, reporter)


def wait_for_change_set(
    cfn: Any, change_set_id: str, name: str, stack_name: str, deadline: Deadline, reporter: Reporter
) -> str | None:
    """The change set once ready, or None when it holds no changes; a change set that fails or is
    not ready within --timeout is deleted: nothing is left."""
    shown = None
    while True:  # not the waiter: it would wait up to 300 s past --timeout, silently
        described = cfn.describe_change_set(ChangeSetName=change_set_id)
        status = described.get("Status", "")
        if status == "CREATE_COMPLETE":
            return change_set_id
        if status == "FAILED":
            reason = described.get("StatusReason") or status
            delete_change_set(cfn, change_set_id)
            if any(marker in reason for marker in NO_CHANGES_MARKERS):
                return None
            raise ReleaseError(ExitCode.CHANGE_SET_FAILED, f"change set {name} failed: {reason}")
        if status != shown:
            reporter.info(f"change set {name}: {status}")
            shown = status
        if deadline.expired():
            delete_change_set(cfn, change_set_id)
            raise deadline.timed_out(
                f"change set {name} still {status}; deleted it, nothing was changed",
                f"aws cloudformation describe-stacks --stack-name {stack_name}",
            )
        deadline.sleep(CHANGE_SET_POLL_SECONDS)


def describe_changes(cfn: Any, change_set_id: str, stack: dict, tag: str) -> list[str]:
    """Lines describing the change set: the parameter change, then resource changes (nested too)."""
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    previous = parameters(stack).get(IMAGE_TAG_PARAMETER) or '""'
    kept = sorted(k for k in parameters(stack) if k != IMAGE_TAG_PARAMETER)
    lines = [
        f"change set {described['ChangeSetName']} ({described.get('Status')})",
        f"parameter {IMAGE_TAG_PARAMETER}: {previous} -> {tag}",
        f"kept at their previous values: {', '.join(kept) or '(none)'}",
    ]
    lines.extend(resource_change_lines(cfn, described) or [NO_RESOURCE_CHANGES])
    return lines


def resource_change_lines(cfn: Any, described: dict, depth: int = 0) -> list[str]:
    """One line per resource change of a described change set; a nested stack's own changes
    (its change set, with IncludeNestedStacks) follow it, indented."""
    lines = []
    indent = "  " * depth
    for change in described.get("Changes") or []:
        resource = change.get("ResourceChange") or {}
        replacement = resource.get("Replacement")  # True, False or Conditional
        suffix = f" (replacement: {replacement})" if replacement not in (None, "False") else ""
        lines.append(
            f"{indent}{resource.get('Action', '?')} {resource.get('ResourceType', '?')} "
            f"{resource.get('LogicalResourceId', '?')}{suffix}"
        )
        nested_id = resource.get("ChangeSetId")
        if nested_id and depth < 3:
            nested = cfn.describe_change_set(ChangeSetName=nested_id)
            lines.extend(resource_change_lines(cfn, nested, depth + 1))
    return lines


def delete_change_set(cfn: Any, change_set_id: str) -> None:
    cfn.delete_change_set(ChangeSetName=change_set_id)


def execute_change_set(cfn: Any, change_set_id: str, stack_name: str, token: str) -> None:
    try:
        cfn.execute_change_set(ChangeSetName=change_set_id, ClientRequestToken=token)
    except ClientError as error:
        raise _busy_or(error, stack_name, ExitCode.CHANGE_SET_FAILED) from None


def _busy_or(error: ClientError, stack_name: str, code: ExitCode) -> ReleaseError:
    """Someone else started an operation between our check and our call: say so clearly."""
    err = error.response.get("Error", {})
    message = err.get("Message", str(error))
    if err.get("Code") == "InvalidChangeSetStatus" or "_IN_PROGRESS" in message:
        return ReleaseError(
            ExitCode.STACK_BUSY,
            f"stack {stack_name!r} is busy: {message}; wait for it to finish, then retry",
        )
    return ReleaseError(code, f"{err.get('Code', 'error')}: {message}")
