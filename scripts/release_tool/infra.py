"""`release.sh infra`: deploys the infrastructure, cloudformation/root.yaml and its nested stacks.

Order: local checks (parameters file, tag form), then AWS: the stack as it is, the tag in ECR, the
account's ECS service-linked role and GitHub OIDC provider, the bootstrap stack (artifacts bucket),
`aws cloudformation package`, the delete of a stack whose creation rolled back (never by a refused
command, --dry-run or --package-only), one change set for the root (shown; deleted again by
--dry-run), executed while its events stream. --dry-run on a stack whose creation rolled back ends
after the checks, before the bootstrap stack: it has no change set to show. ImageTag is sent as
UsePreviousValue unless --image-tag is given: an infrastructure deploy never reverts a release, not
even one that finishes meanwhile.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from release_tool import (
    account,
    outcome,
    package,
    parameters_file,
    regions,
    registry,
    scan,
    stack,
    workspace,
)
from release_tool.deadline import Clock, Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.progress import failure_details, wait_until_final
from release_tool.release import Clients, check_credentials
from release_tool.rollout import RolloutWatcher
from release_tool.stack_events import StackWatcher, newest_event_id
from release_tool.workspace import PLATFORM_BY_CPU_ARCHITECTURE

ARCHITECTURE = "CpuArchitecture"
BOOTSTRAP_TEMPLATE = workspace.REPO_ROOT / "cloudformation" / "bootstrap.yaml"
DEFAULT_PARAMETERS = workspace.REPO_ROOT / "cloudformation" / "parameters.json"


@dataclass
class InfraState:
    """How far the deploy got: what a Ctrl-C or a lost connection must say."""

    stack_name: str
    update_started: bool = False

    def interrupted_message(self) -> str:
        if self.update_started:
            return (
                "interrupted after the stack operation started: it carries on in CloudFormation;"
                f" keep watching with `aws cloudformation describe-stack-events --stack-name "
                f"{self.stack_name}`"
            )
        return "interrupted before the root stack changed"


def start(args: argparse.Namespace, state: InfraState, session: Any = None) -> ExitCode:
    reporter = Reporter()
    values = _read_parameters(args, reporter)
    tag = _resolve_image_tag(args.image_tag, reporter)
    if session is None:
        import boto3

        session = boto3.session.Session()
    region = regions.resolve(session, args.region or os.environ.get("AWS_REGION"))
    _require_supported(region)
    clients = Clients.from_session(session, region)
    iam, s3 = session.client("iam", region_name=region), session.client("s3", region_name=region)
    cfn = clients.cloudformation
    deadline = Deadline(args.timeout, Clock())

    reporter.step(f"checking AWS credentials and stack {args.stack} in {region}")
    identity = check_credentials(clients, reporter)
    if values and values.get("DomainName"):
        _require_public_zone_holding(
            session.client("route53", region_name=region), values, reporter
        )
    found, rolled_back = None, None
    # --package-only packages for stacks of their own (taskcat's): the deployed one decides
    # nothing, and those stacks get ECS's service-linked role from the account.
    if args.package_only is None:
        found, rolled_back = _usable_or_none(cfn, args, reporter)
        _refuse_before_any_change(clients, args, values, found, tag, deadline, reporter)
        account.ensure_ecs_service_linked_role(iam, reporter, args.dry_run)
    overrides = dict(values or {})
    _reuse_oidc_provider(iam, overrides, found, reporter)

    bucket = args.artifacts_bucket or _default_bucket(args.stack, identity["Account"], region)
    if rolled_back is not None and args.dry_run:
        # No CREATE change set can be shown while the old stack is there, so nothing needs the
        # templates in S3: the dry run ends after the checks, before anything is written.
        reporter.step(
            f"dry run: stack {args.stack} is ROLLBACK_COMPLETE: a deploy readies the artifacts "
            f"bucket {bucket}, packages the templates and uploads them to "
            f"s3://{bucket}/{args.stack}/, then deletes the stack and creates it again; "
            "nothing changed"
        )
        return ExitCode.OK
    _bootstrap(cfn, s3, args, bucket, deadline, reporter)
    reporter.step(f"packaging the nested templates into s3://{bucket}/{args.stack}/")
    out_dir = Path(
        workspace.REPO_ROOT / "build" / "packaged"
        if args.package_only is None
        else args.package_only
    )
    packaged = package.package(region, bucket, args.stack, out_dir)
    reporter.info(f"packaged {packaged}")
    if args.package_only is not None:
        shutil.copy(workspace.REPO_ROOT / ".taskcat.yml", out_dir / ".taskcat.yml")
        reporter.step(f"for taskcat: cd {out_dir} && taskcat test run")
        return ExitCode.OK

    overrides["ArtifactsBucketName"] = bucket
    if tag:
        overrides["ImageTag"] = tag
        reporter.info(f"ImageTag={tag}")
    else:
        reporter.info(
            "ImageTag unchanged (the deployed one; none on a new stack: the first release sets it)"
        )
    _decide_protection(overrides, values or {}, found, reporter)
    template_url = _upload(s3, packaged, bucket, args.stack, region)
    known = package.template_parameters(package.ROOT_TEMPLATE)
    parameters = _parameters(overrides, found, known)
    if rolled_back is not None:  # only now that nothing refused the deploy
        reporter.step(
            f"stack {args.stack} is ROLLBACK_COMPLETE: deleting it, then creating it again"
        )
        _delete(cfn, rolled_back, args, reporter, deadline, state)
    return _change(cfn, clients, args, found, template_url, parameters, deadline, reporter, state)


def _require_supported(region: str) -> None:
    supported = package.supported_regions()
    if region not in supported:
        raise ReleaseError(
            ExitCode.USAGE,
            f"region {region} is not in {package.ROOT_TEMPLATE.name} Mappings.SupportedRegions, "
            f"the regions the stack can run in: {', '.join(supported) or '(none)'}",
        )


def _read_parameters(args: argparse.Namespace, reporter: Reporter) -> dict[str, str] | None:
    path = args.parameters
    if path is None and args.package_only is not None:
        return None
    if path is None:
        if not DEFAULT_PARAMETERS.is_file():
            raise ReleaseError(
                ExitCode.USAGE,
                "--parameters FILE is required (or copy cloudformation/parameters.example.json to "
                "cloudformation/parameters.json)",
            )
        path = DEFAULT_PARAMETERS
    values = parameters_file.read(Path(path))
    if warning := parameters_file.certificate_warning(values, Path(path)):
        reporter.warn(warning)
    return values


def _resolve_image_tag(tag: str | None, reporter: Reporter) -> str | None:
    """Images are pushed under the full 40-hex SHA only: a short SHA is resolved here."""
    if tag is None or len(tag) == 40:
        return tag
    full = workspace.full_sha(tag)
    if not full:
        raise ReleaseError(
            ExitCode.USAGE,
            f"image tag '{tag}' is not a full git SHA (40 lowercase hex characters, or a short "
            "SHA of a commit in this repository)",
        )
    reporter.step(f"--image-tag {tag} is commit {full}")
    return full


def _usable_or_none(
    cfn: Any, args: argparse.Namespace, reporter: Reporter
) -> tuple[dict | None, dict | None]:
    """The stack to update (None: create one), and a stack to delete first. A stack whose creation
    failed and rolled back holds nothing (ROLLBACK_COMPLETE): this same command deletes it and
    creates it again, checked as a new stack."""
    name = args.stack
    found = stack.find(cfn, name)
    if found is None or found["StackStatus"] == "REVIEW_IN_PROGRESS":
        reporter.info(f"stack {name} does not exist yet: it will be created")
        return None, None
    status = found["StackStatus"]
    if status == "ROLLBACK_COMPLETE":
        reporter.info(
            f"stack {name} is ROLLBACK_COMPLETE (its creation failed, nothing of it runs): "
            "once the checks pass it is deleted and created again"
        )
        return None, found
    if status.endswith("_IN_PROGRESS"):
        raise ReleaseError(
            ExitCode.STACK_BUSY,
            f"stack {name!r} is busy ({status}); wait for that operation to finish, then retry",
        )
    if status not in stack.RELEASABLE:
        raise ReleaseError(
            ExitCode.STACK_NOT_READY, f"stack {name!r} is in {status}: {stack.advice(cfn, found)}"
        )
    return found, None


def _refuse_before_any_change(
    clients: Clients,
    args: argparse.Namespace,
    values: dict | None,
    found: dict | None,
    tag: str | None,
    deadline: Deadline,
    reporter: Reporter,
) -> None:
    """What reads the stack (None: a new one) and may refuse the deploy, before anything changes."""
    if found is None and values is not None and "GitHubRepository" not in values:
        raise ReleaseError(
            ExitCode.USAGE,
            "GitHubRepository is not in the parameters file: a new stack needs your OWNER/REPO",
        )
    if found is not None and not tag:
        _refuse_new_architecture_for_the_running_image(values or {}, found)
    if tag:
        _check_image(clients, args, values or {}, found, tag, deadline, reporter)


def _refuse_new_architecture_for_the_running_image(values: dict, found: dict) -> None:
    """The running image was built for the stack's CpuArchitecture: tasks of another one fail to
    start it ("exec format error") and the update rolls back. The service exists whenever
    ImageTag is set (root.yaml HasImage)."""
    running = stack.parameters(found).get(stack.IMAGE_TAG_PARAMETER)
    before = stack.parameters(found).get(ARCHITECTURE) or "X86_64"  # Fargate's default
    after = values.get(ARCHITECTURE) or before
    if not running or after == before:
        return
    platform = PLATFORM_BY_CPU_ARCHITECTURE.get(after, after)
    raise ReleaseError(
        ExitCode.USAGE,
        f"{ARCHITECTURE} {before} -> {after} refused: stack {found['StackName']} runs image "
        f"{running}, built for {before}; {after} tasks would fail to start it (exec format "
        f"error); pass --image-tag with the SHA of an image built for {platform} and pushed to "
        f"ECR (a release builds for the stack's current {ARCHITECTURE}), or keep {before}",
    )


def _delete(
    cfn: Any,
    found: dict,
    args: argparse.Namespace,
    reporter: Reporter,
    deadline: Deadline,
    state: InfraState,
) -> None:
    """Delete the stack, its events streamed, within --timeout; a delete that fails (e.g. a
    resource that cannot go) ends here with the status and what to do."""
    stack_id = found["StackId"]
    baseline = newest_event_id(cfn, stack_id)
    state.update_started = True  # a delete, once asked for, carries on in CloudFormation
    cfn.delete_stack(StackName=stack_id)
    watcher, rollout = StackWatcher(cfn, stack_id, baseline), RolloutWatcher(ecs=None)
    status = wait_until_final(
        cfn, watcher, rollout, reporter, deadline, args.poll_interval, args.stack
    )
    if status != "DELETE_COMPLETE":
        raise ReleaseError(
            ExitCode.STACK_NOT_READY,
            f"deleting stack {args.stack!r} ended in {status}: "
            f"{stack.advice(cfn, stack.describe(cfn, stack_id))}",
            details=failure_details(watcher, rollout),
        )


def _check_image(
    clients: Clients,
    args: argparse.Namespace,
    values: dict,
    found: dict | None,
    tag: str,
    deadline: Deadline,
    reporter: Reporter,
) -> None:
    """--image-tag passes what a release checks: in ECR as one image (a missing tag would start
    a long update whose tasks never pull), and through the scan gate with the same --allow-*."""
    repository, named_by = _image_repository(values, found)
    if not repository:
        raise ReleaseError(
            ExitCode.IMAGE_NOT_FOUND,
            f"image tag {tag} cannot be in ECR yet: stack {args.stack} has no repository; deploy "
            "without --image-tag first, then release (README, Deploy to your account)",
        )
    reporter.step(f"image {repository}:{tag}")
    if not registry.tag_exists(clients.ecr, repository, tag, named_by):
        raise ReleaseError(
            ExitCode.IMAGE_NOT_FOUND,
            f"image tag {tag} is not in ECR repository {repository}; push it first "
            "(scripts/release.sh builds and pushes)",
        )
    scan.check(
        clients.ecr,
        repository,
        tag,
        reporter,
        deadline,
        args.allow_critical_findings,
        allow_unsupported=args.allow_unsupported_image,
        inspector=clients.inspector2,
    )


def _image_repository(values: dict, found: dict | None) -> tuple[str | None, str]:
    """The repository the tasks will pull from, and where its name comes from: ImageRepositoryName
    (the file's, else the stack's kept value), else the stack's own repository."""
    name = "ImageRepositoryName"
    if values.get(name):
        return values[name], f"{name} in the parameters file"
    if found is None:
        return None, ""
    if name not in values and stack.parameters(found).get(name):
        return stack.parameters(found)[name], f"the stack's {name}"
    return stack.outputs(found).get("RepositoryName"), "the stack's RepositoryName output"


def _require_public_zone_holding(route53: Any, values: dict, reporter: Reporter) -> None:
    """The certificate is validated by a record CloudFormation writes into HostedZoneId: that
    only works in a public zone that holds DomainName (ACM User Guide, "DNS validation";
    AWS::CertificateManager::Certificate DomainValidationOption), else the create waits, fails
    and rolls back."""
    domain, zone_id = values["DomainName"], values["HostedZoneId"]
    try:
        zone = route53.get_hosted_zone(Id=zone_id)["HostedZone"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchHostedZone":
            raise
        raise ReleaseError(
            ExitCode.USAGE,
            f"HostedZoneId {zone_id} does not exist in this account: set the Route 53 public "
            f"zone that holds DomainName {domain}",
        ) from None
    name = zone["Name"]
    if zone.get("Config", {}).get("PrivateZone"):
        raise ReleaseError(
            ExitCode.USAGE,
            f"HostedZoneId {zone_id} ({name}) is a private zone: ACM validates the certificate "
            f"by DNS in a public zone; set the public zone that holds DomainName {domain}",
        )
    apex = name.rstrip(".").lower()
    if domain != apex and not domain.endswith(f".{apex}"):
        raise ReleaseError(
            ExitCode.USAGE,
            f"DomainName {domain} is not inside hosted zone {zone_id} ({name}): set a name "
            f"under {apex}, or the zone that holds {domain}",
        )
    reporter.info(f"DomainName {domain} is in the public hosted zone {zone_id} ({name})")


def _reuse_oidc_provider(iam: Any, overrides: dict, found: dict | None, reporter: Reporter) -> None:
    """One GitHub OIDC provider per account: a second create fails and rolls back. Reuse the
    existing one, unless this stack created it itself (its parameter is empty then, and stays)."""
    if overrides.get("ExistingOidcProviderArn"):
        return
    if found is not None and not stack.parameters(found).get("ExistingOidcProviderArn"):
        return
    provider = account.github_oidc_provider(iam)
    if provider:
        reporter.info(
            f"the account already has the GitHub OIDC provider {provider}: passing "
            "ExistingOidcProviderArn to reuse it"
        )
        overrides["ExistingOidcProviderArn"] = provider


def _default_bucket(stack_name: str, account_id: str, region: str) -> str:
    bucket = f"{stack_name}-artifacts-{account_id}-{region}".lower()
    if len(bucket) > 63:
        raise ReleaseError(
            ExitCode.USAGE,
            f"default bucket name '{bucket}' is longer than 63 characters; pass --artifacts-bucket",
        )
    return bucket


def _bootstrap(
    cfn: Any, s3: Any, args: argparse.Namespace, bucket: str, deadline: Deadline, reporter: Reporter
) -> None:
    """The bootstrap stack declares the artifacts bucket. A bucket made before that stack existed
    (by an earlier deploy script) is used as it is."""
    name = f"{args.stack}-bootstrap"
    found = stack.find(cfn, name)
    if found is None:
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            pass
        else:
            reporter.info(f"artifacts bucket {bucket} exists outside a bootstrap stack: used as is")
            return
    body = BOOTSTRAP_TEMPLATE.read_text(encoding="utf-8")
    parameters = [{"ParameterKey": "BucketName", "ParameterValue": bucket}]
    reporter.step(f"bootstrap stack {name} (artifacts bucket {bucket})")
    try:
        if found is None:
            stack_id = cfn.create_stack(StackName=name, TemplateBody=body, Parameters=parameters)[
                "StackId"
            ]
        else:
            stack_id = found["StackId"]
            baseline = newest_event_id(cfn, stack_id)
            cfn.update_stack(StackName=name, TemplateBody=body, Parameters=parameters)
    except ClientError as error:
        if "No updates are to be performed" in str(error):
            reporter.info(f"{name} is up to date")
            return
        raise
    watcher = StackWatcher(cfn, stack_id, None if found is None else baseline)
    status = wait_until_final(
        cfn, watcher, RolloutWatcher(ecs=None), reporter, deadline, args.poll_interval, name
    )
    outcome.judge(
        status,
        watcher,
        RolloutWatcher(ecs=None),
        "of the bootstrap stack",
        f"see its events (`aws cloudformation describe-stack-events --stack-name {name}`)",
    )


def _decide_protection(
    overrides: dict, values: dict, found: dict | None, reporter: Reporter
) -> None:
    """The load balancer's deletion protection goes on only once the service has been healthy:
    on before that, a failed first create cannot roll back (OperationNotPermitted). "false" in
    the file always wins (tear-down); otherwise a released stack keeps its value, whatever
    usable state it is in: a failed update rolled back (UPDATE_ROLLBACK_COMPLETE) still runs
    the service a release saw healthy (a rollback restores the previous ImageTag too)."""
    asked = values.get(stack.PROTECTION_PARAMETER)
    if asked == "false":
        return
    ran = (
        found is not None
        and found["StackStatus"] in stack.RELEASABLE
        and bool(stack.parameters(found).get(stack.IMAGE_TAG_PARAMETER))
    )
    if ran:
        return  # "true" applies; without a value the stack keeps its own
    overrides[stack.PROTECTION_PARAMETER] = "false"
    if asked == "true" or found is None:
        reporter.info(
            f"{stack.PROTECTION_PARAMETER} stays false until the service has been healthy: the "
            "first release "
            "that sees it healthy turns it on"
        )


def _upload(s3: Any, packaged: Path, bucket: str, prefix: str, region: str) -> str:
    """The packaged root by URL: a template body is limited to 51,200 bytes, a URL to 1 MB."""
    body = packaged.read_bytes()
    key = f"{prefix}/root-{hashlib.sha256(body).hexdigest()[:16]}.template"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"https://s3.{region}.{regions.dns_suffix(region)}/{bucket}/{key}"


def _parameters(overrides: dict, found: dict | None, known: set[str]) -> list[dict]:
    """The file's values; every other parameter the stack has keeps its previous value."""
    given = [
        {"ParameterKey": key, "ParameterValue": value}
        for key, value in overrides.items()
        if key in known
    ]
    kept = (
        []
        if found is None
        else [
            {"ParameterKey": key, "UsePreviousValue": True}
            for key in stack.parameters(found)
            if key in known and key not in overrides
        ]
    )
    return given + kept


def _change(
    cfn: Any,
    clients: Clients,
    args: argparse.Namespace,
    found: dict | None,
    template_url: str,
    parameters: list[dict],
    deadline: Deadline,
    reporter: Reporter,
    state: InfraState,
) -> ExitCode:
    kind = "CREATE" if found is None else "UPDATE"
    name = f"infra-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    reporter.step(f"creating the change set ({kind.lower()} of stack {args.stack})")
    try:
        created = cfn.create_change_set(
            StackName=args.stack,
            ChangeSetName=name,
            ChangeSetType=kind,
            TemplateURL=template_url,
            Parameters=parameters,
            Capabilities=stack.CAPABILITIES,
            IncludeNestedStacks=True,  # the nested stacks' own changes, not just "Modify Stack"
            Description="infrastructure deploy (scripts/release.sh infra)",
        )
    except ClientError as error:
        err = error.response.get("Error", {})
        raise ReleaseError(
            ExitCode.CHANGE_SET_FAILED, f"{err.get('Code')}: {err.get('Message')}"
        ) from None
    change_set_id = stack.wait_for_change_set(
        cfn, created["Id"], name, args.stack, deadline, reporter
    )
    if change_set_id is None:
        reporter.step("no changes: the stack already matches")
        _drop_empty_shell(cfn, kind, created["StackId"])
        return ExitCode.OK
    for line in _changes(cfn, change_set_id):
        reporter.info(line)
    if args.dry_run:
        cfn.delete_change_set(ChangeSetName=change_set_id)
        _drop_empty_shell(cfn, kind, created["StackId"])
        reporter.step("dry run: change set deleted, nothing executed")
        return ExitCode.OK

    reporter.step("executing the change set; stack events follow")
    baseline = None if found is None else newest_event_id(cfn, created["StackId"])
    state.update_started = True
    stack.execute_change_set(cfn, change_set_id, args.stack, f"infra-{uuid.uuid4()}")
    watcher = StackWatcher(cfn, created["StackId"], baseline)
    # The service is learnt from the events; only its deployments created since the operation's
    # first event count (progress.wait_until_final).
    rollout = RolloutWatcher(ecs=clients.ecs)
    status = wait_until_final(
        cfn, watcher, rollout, reporter, deadline, args.poll_interval, args.stack
    )
    operation = "creation" if found is None else "update"
    after = stack.describe(cfn, created["StackId"])
    advice = (
        "nothing else changed"
        if found is not None
        else stack.BROKEN_ADVICE.get(after["StackStatus"], "inspect its events")
    )
    if after["StackStatus"] not in outcome.SUCCESS and after["StackStatus"] in stack.BROKEN_ADVICE:
        advice = stack.advice(cfn, after)
    outcome.judge(status, watcher, rollout, operation, advice)
    for key, value in sorted(stack.outputs(after).items()):
        reporter.info(f"output {key} = {value}")
    reporter.step(f"deployed stack {args.stack} ({after['StackStatus']})")
    return ExitCode.OK


def _changes(cfn: Any, change_set_id: str) -> list[str]:
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    lines = [f"change set {described['ChangeSetName']}: what would change"]
    return lines + (stack.resource_change_lines(cfn, described) or [stack.NO_RESOURCE_CHANGES])


def _drop_empty_shell(cfn: Any, kind: str, stack_id: str) -> None:
    """A CREATE change set leaves a REVIEW_IN_PROGRESS stack behind: delete it again."""
    if kind == "CREATE":
        cfn.delete_stack(StackName=stack_id)


def new_state(stack_name: str) -> InfraState:
    return InfraState(stack_name=stack_name)
