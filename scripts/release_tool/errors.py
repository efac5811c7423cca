"""Exit codes (documented in `release.sh --help` and the README) and the error carrying one."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # released, or dry run shown, or already at that tag and verified
    ERROR = 1  # anything else: an AWS API error the tool does not expect, or a bug
    USAGE = 2  # unknown flag, bad value
    PREREQUISITE = 3  # missing AWS credentials/region, container builder, git, boto3; dirty tree
    STACK_NOT_READY = (
        4  # stack missing, in a failed state, or without the contract's outputs/params
    )
    STACK_BUSY = 5  # another stack operation is in progress
    IMAGE_NOT_FOUND = 6  # the tag is not in the ECR repository
    BUILD_OR_PUSH_FAILED = 7  # image build, ECR login or push failed
    CHANGE_SET_FAILED = 8  # CloudFormation could not create the change set
    STACK_ROLLED_BACK = 9  # the update failed and CloudFormation rolled the stack back
    CIRCUIT_BREAKER = 10  # the ECS deployment circuit breaker failed the rollout
    TIMEOUT = 11  # no final state within --timeout, or AWS unreachable after the update started
    VERIFY_FAILED = 12  # stack updated but the service does not run the new image steadily
    HEALTH_FAILED = 13  # GET <ServiceUrl>/health did not answer 200 {"status": "ok"}
    INTERRUPTED = 130  # Ctrl-C (the update goes on in CloudFormation)


class ReleaseError(Exception):
    """A failure the user can act on: one message line, optional detail lines, an exit code."""

    def __init__(self, code: ExitCode, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
