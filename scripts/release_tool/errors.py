"""Exit codes and their meanings: the one home of the table that `release.sh --help` prints, for
the release and the infrastructure deploy alike."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    PREREQUISITE = 3
    STACK_NOT_READY = 4
    STACK_BUSY = 5
    IMAGE_NOT_FOUND = 6
    BUILD_OR_PUSH_FAILED = 7
    CHANGE_SET_FAILED = 8
    STACK_ROLLED_BACK = 9
    CIRCUIT_BREAKER = 10
    TIMEOUT = 11
    VERIFY_FAILED = 12
    HEALTH_FAILED = 13
    CRITICAL_FINDINGS = 14
    ALARM_ROLLBACK = 15
    HOOK_ROLLBACK = 16
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "released (or: dry run shown; or: the stack already runs that tag and was "
    "verified)",
    ExitCode.ERROR: "unexpected error (an AWS API error the tool does not handle, or a bug; "
    "`RELEASE_DEBUG=1` shows a traceback)",
    ExitCode.USAGE: "usage error (unknown flag, bad value); nothing was run",
    ExitCode.PREREQUISITE: "prerequisite missing: AWS credentials, profile, SSO login or region, "
    "container builder, git, boto3; AWS unreachable or answering with something that is not AWS "
    "(network, proxy, TLS) before the stack update started; a dirty work tree; or an image "
    "scan that cannot be read or an image the scanner does not support "
    "(`--allow-unsupported-image`)",
    ExitCode.STACK_NOT_READY: "stack not found, in a failed state, or without the expected "
    "outputs/parameters; or a first release (no image yet) attempted with the deploy role: it "
    "needs administrator credentials (see Deploy to your account, step 2)",
    ExitCode.STACK_BUSY: "stack busy: another operation is in progress",
    ExitCode.IMAGE_NOT_FOUND: "image tag not found in the ECR repository (tags are full 40-hex "
    "commit SHAs)",
    ExitCode.BUILD_OR_PUSH_FAILED: "image build, ECR login or push failed",
    ExitCode.CHANGE_SET_FAILED: "the change set could not be created (it is deleted)",
    ExitCode.STACK_ROLLED_BACK: "the stack update failed and was rolled back (failing events "
    "printed)",
    ExitCode.CIRCUIT_BREAKER: "the ECS deployment circuit breaker failed the rollout (reasons "
    "printed)",
    ExitCode.TIMEOUT: "`--timeout` reached, or lost the connection to AWS after the update "
    "started (the update carries on in CloudFormation; the command to keep watching is printed)",
    ExitCode.VERIFY_FAILED: "verification failed: the service does not run the new image steadily",
    ExitCode.HEALTH_FAILED: "health check failed: `GET <ServiceUrl>/health` did not answer 200 "
    '`{"status": "ok"}`',
    ExitCode.CRITICAL_FINDINGS: "the image's ECR scan has CRITICAL findings: not deployed "
    "(`--allow-critical-findings` overrides)",
    ExitCode.ALARM_ROLLBACK: "an ECS deployment alarm went into ALARM and ECS rolled the service "
    "back (alarm names printed)",
    ExitCode.HOOK_ROLLBACK: "a lifecycle hook failed the new tasks before production traffic "
    "moved (the contract check found an answer off docs/openapi.json or none in time, or an "
    "approval was refused or timed out); ECS rolled back (docs/delivery.md)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); the message says whether a stack update had "
    "started",
}


def exit_code_help() -> str:
    """The table for --help, generated from MEANINGS."""
    return "\n".join(f"  {int(code):>3}  {MEANINGS[code]}" for code in ExitCode)


class ReleaseError(Exception):
    """A failure the user can act on: one message line, optional detail lines, an exit code."""

    def __init__(self, code: ExitCode, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
