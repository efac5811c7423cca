"""The release, step by step: check, (push), change set, execute, watch, verify, health."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError
from botocore.exceptions import ConnectionError as AwsConnectionError

from release_tool import health, registry, service, stack
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.progress import (
    Clock,
    RolloutWatcher,
    StackWatcher,
    newest_event_id,
    wait_for_update,
)

NO_REGION = "no AWS region: pass --region or set AWS_REGION (or a region in your AWS profile)"


@dataclass
class Clients:
    cloudformation: Any
    ecr: Any
    ecs: Any
    sts: Any

    @classmethod
    def from_session(cls, session: Any, region: str | None) -> Clients:
        try:
            make = {
                name: session.client(name, region_name=region)
                for name in ("cloudformation", "ecr", "ecs", "sts")
            }
        except NoRegionError:
            raise ReleaseError(ExitCode.PREREQUISITE, NO_REGION) from None
        return cls(**make)


@dataclass
class Options:
    stack_name: str
    tag: str
    dry_run: bool = False
    local_image: str | None = None  # built by release.sh; pushed when set
    builder: str | None = None
    timeout: float = 1800.0
    poll_interval: float = 5.0
    health_url: str | None = None  # default: <ServiceUrl>/health
    health_attempts: int = 12
    health_delay: float = 10.0
    clock: Clock = field(default_factory=Clock)


def check_credentials(clients: Clients, reporter: Reporter) -> dict:
    try:
        identity = clients.sts.get_caller_identity()
    except NoCredentialsError:
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            "no AWS credentials found: set AWS_PROFILE (aws sso login) or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or run in GitHub Actions with the OIDC role",
        ) from None
    except ClientError as error:
        err = error.response.get("Error", {})
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            f"AWS credentials rejected: {err.get('Code')}: {err.get('Message')}",
        ) from None
    reporter.info(f"AWS account {identity['Account']} as {identity['Arn']}")
    return identity


def is_role(caller_arn: str, role_arn: str) -> bool:
    """arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION is role arn:aws:iam::ACCOUNT:role/PATH/NAME?
    (an assumed-role ARN drops the role's path, so compare account and name)."""
    caller, role = caller_arn.split(":", 5), role_arn.split(":", 5)
    if len(caller) < 6 or len(role) < 6 or caller[4] != role[4]:
        return False
    kind, _, rest = caller[5].partition("/")
    return kind == "assumed-role" and rest.split("/")[0] == role[5].rsplit("/", 1)[-1]


def refuse_first_release_by_deploy_role(found: dict, identity: dict) -> None:
    """The first release creates the service stack (ECS, ALB, IAM roles...), which the deploy role
    is deliberately not allowed to do: fail now, not after a slow rollback."""
    if stack.parameters(found)[stack.IMAGE_TAG_PARAMETER]:
        return
    deploy_role = stack.outputs(found).get("DeployRoleArn")
    if deploy_role and is_role(identity.get("Arn", ""), deploy_role):
        raise ReleaseError(
            ExitCode.STACK_NOT_READY,
            f"stack {found['StackName']!r} has no image yet: the first release creates the service "
            "and needs administrator credentials, not the deploy role (README "
            '"Deploy to your account", step 2)',
        )


def preflight(
    clients: Clients, stack_name: str, reporter: Reporter, title: str = "checking"
) -> dict:
    """Everything that can be checked before a (slow) image build."""
    reporter.step(f"{title} AWS credentials and stack {stack_name}")
    identity = check_credentials(clients, reporter)
    found = stack.describe(clients.cloudformation, stack_name)
    stack.require_releasable(found)
    refuse_first_release_by_deploy_role(found, identity)
    repository_uri = stack.require_output(found, "RepositoryUri")
    current = stack.parameters(found)[stack.IMAGE_TAG_PARAMETER] or "(none: first release)"
    reporter.info(f"stack {stack_name} is {found['StackStatus']}; ImageTag now {current}")
    reporter.info(f"repository {repository_uri}")
    return found


def run(clients: Clients, options: Options, reporter: Reporter) -> ExitCode:
    # Checked again after `release.sh` ran `preflight`: the build took minutes; things change.
    found = preflight(clients, options.stack_name, reporter)
    repository_uri = stack.require_output(found, "RepositoryUri")
    repository = stack.outputs(found).get("RepositoryName") or registry.repository_name(
        repository_uri
    )
    image = f"{repository_uri}:{options.tag}"

    reporter.step(f"image {image}")
    already_pushed = registry.tag_exists(clients.ecr, repository, options.tag)
    if options.local_image and already_pushed:
        reporter.info(
            f"tag {options.tag} is already in ECR; not pushing again (tags are immutable)"
        )
    elif options.local_image and options.dry_run:
        reporter.info(f"dry run: would push {options.local_image} as {image}")
    elif options.local_image:
        registry.push(
            clients.ecr,
            options.builder or "docker",
            options.local_image,
            repository_uri,
            options.tag,
            reporter,
        )
        registry.require_tag(clients.ecr, repository, options.tag)
    elif not already_pushed:
        raise registry.missing_tag(repository, options.tag)
    else:
        reporter.info(f"tag {options.tag} found in ECR")

    if stack.parameters(found)[stack.IMAGE_TAG_PARAMETER] == options.tag:
        reporter.step(f"stack already runs ImageTag {options.tag}: no change set needed")
        if options.dry_run:
            return ExitCode.OK
        return _verify(
            clients,
            options,
            stack.describe(clients.cloudformation, found["StackId"]),
            image,
            reporter,
        )

    reporter.step("creating the change set (ImageTag only; every other parameter keeps its value)")
    cfn = clients.cloudformation
    change_set_id = stack.create_change_set(
        cfn, found, options.tag, stack.change_set_name(options.tag)
    )
    if change_set_id is None:
        reporter.info("CloudFormation reports nothing to change")
        return ExitCode.OK if options.dry_run else _verify(clients, options, found, image, reporter)
    for line in stack.describe_changes(cfn, change_set_id, found, options.tag):
        reporter.info(line)
    if options.dry_run:
        stack.delete_change_set(cfn, change_set_id)
        reporter.step("dry run: change set deleted, nothing executed")
        return ExitCode.OK

    reporter.step("executing the change set; stack events and the ECS rollout follow")
    baseline = newest_event_id(cfn, found["StackId"])
    outputs = stack.outputs(found)
    rollout = RolloutWatcher(clients.ecs, outputs.get("ClusterName"), outputs.get("ServiceName"))
    rollout.poll()  # the state before this release: only changes from here on are printed
    stack.execute_change_set(cfn, change_set_id, options.stack_name, f"release-{uuid.uuid4()}")
    try:
        watcher = StackWatcher(cfn, found["StackId"], baseline)
        wait_for_update(
            cfn, watcher, rollout, reporter, options.timeout, options.poll_interval, options.clock
        )
        updated = stack.describe(cfn, found["StackId"])
        return _verify(clients, options, updated, image, reporter)
    except AwsConnectionError as error:
        # The update is under way: like a timeout, not a missing prerequisite (exit 3).
        raise ReleaseError(
            ExitCode.TIMEOUT,
            f"lost the connection to AWS while watching the release ({error}); the stack update "
            "carries on in CloudFormation; check it with `aws cloudformation describe-stacks "
            f"--stack-name {options.stack_name}`",
        ) from None


def _verify(
    clients: Clients, options: Options, found: dict, image: str, reporter: Reporter
) -> ExitCode:
    reporter.step("verifying the ECS service and the health endpoint")
    if found["StackStatus"] not in stack.RELEASABLE:
        raise ReleaseError(ExitCode.VERIFY_FAILED, f"stack is {found['StackStatus']}")
    cluster = stack.require_output(found, "ClusterName")
    service_name = stack.require_output(found, "ServiceName")
    service.wait_stable(clients.ecs, cluster, service_name, timeout=max(options.timeout / 6, 60))
    deployment = service.verify(clients.ecs, cluster, service_name, image)
    reporter.info(
        f"PRIMARY deployment {deployment.get('id')} runs {image}: rollout "
        f"{deployment.get('rolloutState')}, {deployment.get('runningCount')}/"
        f"{deployment.get('desiredCount')} tasks running"
    )
    service_url = stack.require_output(found, "ServiceUrl")
    url = health.check(
        options.health_url or service_url.rstrip("/") + "/health",
        attempts=options.health_attempts,
        delay=options.health_delay,
        sleep=options.clock.sleep,
    )
    reporter.info(f"GET {url}: 200 ok")
    reporter.step(f"released {options.tag} to stack {options.stack_name} ({found['StackStatus']})")
    return ExitCode.OK
