"""The release, step by step: check, (build), (push), scan, change set, execute, watch, verify,
health. Everything after the build runs within --timeout (progress.Deadline)."""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError

from release_tool import health, outcome, regions, registry, scan, service, stack, workspace
from release_tool.aws_errors import NO_CREDENTIALS
from release_tool.deadline import DEFAULT_TIMEOUT, Clock, Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.progress import wait_until_final
from release_tool.rollout import RolloutWatcher
from release_tool.stack_events import StackWatcher, newest_event_id

LOCAL_IMAGE_NAME = "predict-api"


@dataclass
class State:
    """How far the release got: what a Ctrl-C or a lost connection must say."""

    stack_name: str
    pushed: str | None = None
    update_started: bool = False

    def interrupted_message(self) -> str:
        if self.update_started:
            return (
                "interrupted after the stack update started: it carries on in CloudFormation; "
                f"keep watching with `aws cloudformation describe-stack-events --stack-name "
                f"{self.stack_name}`"
            )
        pushed = f" (image {self.pushed} is in ECR)" if self.pushed else ""
        return f"interrupted before any stack update started: the stack is unchanged{pushed}"


@dataclass
class Clients:
    cloudformation: Any
    ecr: Any
    ecs: Any
    sts: Any
    inspector2: Any = None  # enhanced scanning's findings (scan.py)
    acm: Any = None  # the HTTPS certificate's validation status (health.py)

    @classmethod
    def from_session(cls, session: Any, region: str | None) -> Clients:
        region = regions.resolve(session, region)
        make = {
            name: session.client(name, region_name=region)
            for name in ("cloudformation", "ecr", "ecs", "sts", "inspector2", "acm")
        }
        return cls(**make)


@dataclass
class Options:
    stack_name: str
    tag: str
    dry_run: bool = False
    local_image: str | None = None  # built on this machine; pushed when set
    builder: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    poll_interval: float = 5.0
    health_url: str | None = None  # default: <ServiceUrl>/health
    health_attempts: int = 12
    health_delay: float = 10.0
    allow_critical_findings: bool = False
    allow_unsupported_image: bool = False
    dirty_build: bool = False  # local_image holds uncommitted changes: never pushed
    clock: Clock = field(default_factory=Clock)


def check_credentials(clients: Clients, reporter: Reporter) -> dict:
    try:
        identity = clients.sts.get_caller_identity()
    except NoCredentialsError:
        raise ReleaseError(ExitCode.PREREQUISITE, NO_CREDENTIALS) from None
    except ClientError as error:
        err = error.response.get("Error", {})
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            f"AWS credentials rejected: {err.get('Code')}: {err.get('Message')}",
        ) from None
    except (KeyError, TypeError):  # botocore's parser on an HTML page where XML was expected
        raise ResponseParserError("an HTML or other non-AWS page") from None
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
    stack.require_releasable(found, clients.cloudformation)
    refuse_first_release_by_deploy_role(found, identity)
    repository_uri = stack.require_output(found, "RepositoryUri")
    current = stack.parameters(found)[stack.IMAGE_TAG_PARAMETER] or "(none: first release)"
    reporter.info(f"stack {stack_name} is {found['StackStatus']}; ImageTag now {current}")
    reporter.info(f"repository {repository_uri}")
    return found


def _resolve_tag(args: argparse.Namespace, reporter: Reporter) -> str:
    if args.tag is None:
        return workspace.head_sha()  # the full SHA: unambiguous, and equal to GITHUB_SHA in CI
    if len(args.tag) < 40 and (full := workspace.full_sha(args.tag)):
        reporter.step(f"--tag {args.tag} is commit {full}")  # images carry the full SHA
        return full
    return args.tag


def start(args: argparse.Namespace, state: State, session: Any = None) -> ExitCode:
    """Local checks, preflight, the build when needed, then run() within --timeout."""
    reporter = Reporter()
    if args.build or args.tag is None:
        workspace.require_git()
    builder = workspace.choose_builder() if args.build else None
    dirty = args.build and not args.image and workspace.is_dirty()
    if dirty and not args.allow_dirty:
        raise ReleaseError(
            ExitCode.PREREQUISITE,
            "work tree has uncommitted changes; commit them (a pushed image must be exactly its "
            "commit's build), or pass --no-build to deploy an image already in ECR",
        )
    tag = _resolve_tag(args, reporter)
    if args.image and (revision := workspace.image_revision(builder, args.image)) != tag:
        raise ReleaseError(
            ExitCode.USAGE,
            f"--image {args.image} was built from {revision or 'an unknown commit'}, "
            f"not from HEAD ({tag}): its tag would name a commit whose build it is not",
        )
    if session is None:
        import boto3

        session = boto3.session.Session()
    clients = Clients.from_session(session, args.region or os.environ.get("AWS_REGION"))

    local_image = None
    if args.build:
        # Credentials, stack state and the tag in ECR before spending minutes on a build.
        found = preflight(clients, args.stack, reporter)
        repository = _repository(found)
        if not dirty and registry.tag_exists(clients.ecr, repository, tag):
            reporter.step(f"tag {tag} is already in ECR: not building it again")
        elif args.image:
            local_image = args.image  # built and tested before (CI): pushed as it is
        else:
            suffix = "-dirty" if dirty else ""  # never pushed: see --allow-dirty
            local_image = f"{LOCAL_IMAGE_NAME}:{tag}{suffix}"
            workspace.build(builder, local_image, tag, reporter, stack.platform(found))
            if dirty:
                reporter.info(f"{local_image} is a dirty build: it stays on this machine")
    options = Options(
        stack_name=args.stack,
        tag=tag,
        dry_run=args.dry_run,
        local_image=local_image,
        builder=builder,
        timeout=args.timeout,
        poll_interval=float(os.environ.get("RELEASE_POLL_SECONDS", "5")),
        health_url=args.health_url,
        allow_critical_findings=args.allow_critical_findings,
        allow_unsupported_image=args.allow_unsupported_image,
        dirty_build=bool(dirty),
    )
    return run(clients, options, reporter, state)


def _repository(found: dict) -> str:
    repository_uri = stack.require_output(found, "RepositoryUri")
    return stack.outputs(found).get("RepositoryName") or registry.repository_name(repository_uri)


def run(
    clients: Clients, options: Options, reporter: Reporter, state: State | None = None
) -> ExitCode:
    state = state or State(stack_name=options.stack_name)
    deadline = Deadline(options.timeout, options.clock)
    # Checked again after the preflight before the build: a build takes minutes; things change.
    found = preflight(clients, options.stack_name, reporter)
    repository_uri = stack.require_output(found, "RepositoryUri")
    repository = _repository(found)
    image = f"{repository_uri}:{options.tag}"

    reporter.step(f"image {image}")
    already_pushed = registry.tag_exists(clients.ecr, repository, options.tag)
    if options.local_image and already_pushed:
        reporter.info(
            f"tag {options.tag} is already in ECR; not pushing again (tags are immutable)"
        )
    elif options.local_image and options.dirty_build:
        if not options.dry_run:  # the argument rules make this unreachable; keep the promise
            raise ReleaseError(ExitCode.USAGE, "a dirty build is never pushed")
        reporter.info(f"dry run: {options.local_image} is not pushed (a dirty build never is)")
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
            deadline,
        )
        registry.require_tag(clients.ecr, repository, options.tag)
        state.pushed = image
    elif not already_pushed:
        raise registry.missing_tag(repository, options.tag)
    else:
        reporter.info(f"tag {options.tag} found in ECR")

    if already_pushed or state.pushed:
        scan.check(
            clients.ecr,
            repository,
            options.tag,
            reporter,
            deadline,
            options.allow_critical_findings,
            allow_unsupported=options.allow_unsupported_image,
            inspector=clients.inspector2,
        )

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
            deadline,
        )

    reporter.step("creating the change set (ImageTag only; every other parameter keeps its value)")
    cfn = clients.cloudformation
    change_set_id = stack.create_change_set(
        cfn, found, options.tag, stack.change_set_name(options.tag), deadline, reporter
    )
    if change_set_id is None:
        reporter.info("CloudFormation reports nothing to change")
        if options.dry_run:
            return ExitCode.OK
        return _verify(clients, options, found, image, reporter, deadline)
    for line in stack.describe_changes(cfn, change_set_id, found, options.tag):
        reporter.info(line)
    if options.dry_run:
        stack.delete_change_set(cfn, change_set_id)
        reporter.step("dry run: change set deleted, nothing executed")
        return ExitCode.OK

    reporter.step("executing the change set; stack events and the ECS rollout follow")
    baseline = newest_event_id(cfn, found["StackId"])
    outputs = stack.outputs(found)
    # The service's deployments listed now are history; later only those created since the
    # operation's first stack event count (progress.wait_until_final).
    rollout = RolloutWatcher(clients.ecs, outputs.get("ClusterName"), outputs.get("ServiceName"))
    rollout.poll()  # the state before this release: only changes from here on are printed
    state.update_started = True  # from here on a lost connection or Ctrl-C leaves it running
    stack.execute_change_set(cfn, change_set_id, options.stack_name, f"release-{uuid.uuid4()}")
    watcher = StackWatcher(cfn, found["StackId"], baseline)
    status = wait_until_final(
        cfn, watcher, rollout, reporter, deadline, options.poll_interval, options.stack_name
    )
    advice = "the previous image keeps serving"
    if status in stack.BROKEN_ADVICE:  # e.g. a rollback that failed: say how to get out
        advice = stack.advice(cfn, stack.describe(cfn, found["StackId"]))
    outcome.judge(status, watcher, rollout, "update", advice)
    updated = stack.describe(cfn, found["StackId"])
    _verify(clients, options, updated, image, reporter, deadline)
    return _protect_once_healthy(clients, options, found, reporter, deadline, state)


def _protect_once_healthy(
    clients: Clients,
    options: Options,
    before: dict,
    reporter: Reporter,
    deadline: Deadline,
    state: State,
) -> ExitCode:
    """The release that created the service and saw it healthy turns the load balancer's deletion
    protection on (off until then, so that a failed first create can roll back). Later releases,
    and an explicit "false" of an infrastructure deploy after, leave it as it is."""
    previous = stack.parameters(before)
    protected = previous.get(stack.PROTECTION_PARAMETER) != "false"
    if protected or previous[stack.IMAGE_TAG_PARAMETER]:
        return ExitCode.OK
    reporter.step("the new service is healthy: turning the load balancer's deletion protection on")
    cfn = clients.cloudformation
    current = stack.describe(cfn, before["StackId"])
    name = f"protect-{stack.change_set_name(options.tag)}"
    change_set_id = stack.create_change_set(
        cfn, current, options.tag, name, deadline, reporter, {stack.PROTECTION_PARAMETER: "true"}
    )
    if change_set_id is None:
        return ExitCode.OK
    baseline = newest_event_id(cfn, before["StackId"])
    stack.execute_change_set(cfn, change_set_id, options.stack_name, f"protect-{uuid.uuid4()}")
    watcher = StackWatcher(cfn, before["StackId"], baseline)
    rollout = RolloutWatcher(clients.ecs)
    status = wait_until_final(
        cfn, watcher, rollout, reporter, deadline, options.poll_interval, options.stack_name
    )
    outcome.judge(
        status,
        watcher,
        rollout,
        "update",
        "the release itself succeeded; deletion "
        "protection stays off (set DeletionProtection true with the infra deploy)",
    )
    reporter.info(f"{stack.PROTECTION_PARAMETER} is on")
    return ExitCode.OK


def _verify(
    clients: Clients,
    options: Options,
    found: dict,
    image: str,
    reporter: Reporter,
    deadline: Deadline,
) -> ExitCode:
    reporter.step("verifying the ECS service and the health endpoint")
    if found["StackStatus"] not in stack.RELEASABLE:
        raise ReleaseError(ExitCode.VERIFY_FAILED, f"stack is {found['StackStatus']}")
    cluster = stack.require_output(found, "ClusterName")
    service_name = stack.require_output(found, "ServiceName")
    service.wait_stable(clients.ecs, cluster, service_name, deadline)
    deployment = service.verify(clients.ecs, cluster, service_name, image)
    reporter.info(
        f"PRIMARY deployment {deployment.get('id')} runs {image}: rollout "
        f"{deployment.get('rolloutState')}, {deployment.get('runningCount')}/"
        f"{deployment.get('desiredCount')} tasks running"
    )
    service_url = stack.require_output(found, "ServiceUrl")
    url = health.check(
        options.health_url or service_url.rstrip("/") + "/health",
        deadline,
        reporter,
        attempts=options.health_attempts,
        delay=options.health_delay,
        certificate_arn=stack.outputs(found).get("CertificateArn"),
        acm=clients.acm,
    )
    reporter.info(f"GET {url}: 200 ok")
    reporter.step(f"released {options.tag} to stack {options.stack_name} ({found['StackStatus']})")
    return ExitCode.OK


def new_state(stack_name: str) -> State:
    return State(stack_name=stack_name)
