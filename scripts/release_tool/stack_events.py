"""Watching CloudFormation: new events of the root stack and of every nested stack it touches,
printed as they happen (like copilot-cli's stack streamer); failures kept for the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"
SERVICE_TYPE = "AWS::ECS::Service"


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
