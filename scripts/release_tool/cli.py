"""The command line of scripts/release.sh (the release) and `scripts/release.sh infra` (the
infrastructure deploy; scripts/deploy-infra.sh hands over to it): every argument rule lives here and
is checked before anything runs, with one vocabulary for both (--stack, --region, --dry-run,
--timeout). Never shows a traceback unless RELEASE_DEBUG=1: every failure is one line on stderr and
a documented exit code (errors.py)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from release_tool.deadline import DEFAULT_TIMEOUT
from release_tool.errors import ExitCode, ReleaseError, exit_code_help
from release_tool.workspace import BUILDERS, REPO_ROOT, TEMPLATES_DIR

SHA_PATTERN = re.compile(r"^[0-9a-f]{7,40}$")  # the root stack's ImageTag AllowedPattern
STACK_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,117}$")  # + "-bootstrap" fits 128
# Every AWS region name has this shape (us-east-1, us-gov-west-1, cn-north-1, eu-central-2).
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
PROG = "release"
INFRA = "infra"  # the first argument that selects the infrastructure deploy

DESCRIPTION = """\
Builds the image from HEAD, tags it <RepositoryUri>:<full git SHA> (never 'latest'), pushes it to
ECR, waits for its ECR scan and refuses CRITICAL findings, then updates the stack through a change
set that changes only ImageTag (every other parameter keeps its previous value). Shows stack events
and the ECS rollout while waiting, then verifies: stack UPDATE_COMPLETE, the PRIMARY deployment
runs the new image, rollout COMPLETED, running = desired, and GET <ServiceUrl>/health answers 200.
A tag already in ECR is not built again (tags are immutable and name exactly one commit's build).
The image is built for the stack's CpuArchitecture (linux/amd64 or linux/arm64). The first release
(the one that creates the service) turns the load balancer's deletion protection on once the service
answers healthy.

The infrastructure is deployed with `scripts/release.sh infra` (see `scripts/release.sh infra
--help`)."""

INFRA_DESCRIPTION = """\
Deploys cloudformation/root.yaml and its nested stacks. First, without changing anything: checks the
region (root.yaml's Mappings.SupportedRegions), the parameters file (names root.yaml has, string or
whole-number values), the stack, and --image-tag in ECR and its scan, as a release does; a new
CpuArchitecture under a running service needs --image-tag of an image built for it. Then creates
what the root stack needs before it exists: the ECS service-linked role AWSServiceRoleForECS when
missing (needs iam:CreateServiceLinkedRole; a fresh account's first cluster can fail without it)
and the bootstrap stack <stack>-bootstrap (cloudformation/bootstrap.yaml: the artifacts bucket).
Runs `aws cloudformation package` into that bucket, then one change set for the root stack, shown,
executed, its events streamed. ImageTag keeps the deployed value unless --image-tag is given, so an
infrastructure deploy never reverts a release. If the account already has the GitHub OIDC provider,
a new stack reuses it. A stack whose creation failed (ROLLBACK_COMPLETE) is deleted and created
again, once every check has passed (never by --package-only; --dry-run stops after the checks and
writes nothing, no bootstrap stack nor packaging). DeletionProtection stays false until the
service has been healthy; "false" in the file turns it off (before deleting the stack).

Needs credentials allowed to create the stack's resources (IAM roles, VPC, ECS, ELB, CloudWatch,
ECR, S3) and iam:CreateServiceLinkedRole for ecs.amazonaws.com."""

ENVIRONMENT = """\
environment:
  CONTAINER_BUILDER  docker, podman or buildah (default: the first that works, in that order)
  RELEASE_PYTHON     python with boto3 (default: .venv/bin/python, then python3)
  RELEASE_DEBUG=1    show a traceback on unexpected errors"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + message
        print(f"{PROG}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(ExitCode.USAGE)


def _sha(value: str) -> str:
    lowered = value.lower()  # git prints lowercase; an uppercase SHA names the same commit
    if not SHA_PATTERN.match(lowered):
        raise argparse.ArgumentTypeError(
            f"invalid tag {value!r}: expected a git commit SHA, 7 to 40 hex digits"
        )
    return lowered


def _stack_name(value: str) -> str:
    if not STACK_NAME_PATTERN.match(value):
        raise argparse.ArgumentTypeError(
            f"invalid stack name {value!r}: a letter, then up to 117 letters, digits or hyphens"
            " (names derived from it must fit AWS limits)"
        )
    return value


# A local image reference as docker and podman take it: name[:tag][@digest], or an image id.
IMAGE_REF_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/:@-]{0,254}")


def _image_ref(value: str) -> str:
    if not IMAGE_REF_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"invalid image {value!r}: expected a local image reference such as "
            "predict-api:ci or an image id"
        )
    return value


def _region(value: str) -> str:
    if not REGION_PATTERN.match(value):
        raise argparse.ArgumentTypeError(
            f"invalid region {value!r}: expected a region name such as us-east-1"
        )
    try:
        from release_tool import regions  # botocore's partition data, when boto3 is installed
    except ImportError:
        return value  # checked again once boto3 is there (exit 3 says to install it first)
    if value not in regions.known_regions():
        raise argparse.ArgumentTypeError(
            f"unknown region {value!r}: not in botocore's partition data (a region launched "
            "since needs a newer boto3)"
        )
    return value


def _health_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when out of range or not a number
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0
    except ValueError:  # an unclosed [IPv6] host or a port that is not a valid number
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"invalid health URL {value!r}: expected http(s)://HOST[:PORT][/PATH], PORT 1-65535"
        )
    return value


def _seconds(value: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,6}", value):
        raise argparse.ArgumentTypeError(
            f"invalid number of seconds {value!r}: a whole number from 1"
        )
    return int(value)


def _add_shared(parser: argparse.ArgumentParser) -> None:
    """The options both commands have, spelled and checked alike."""
    add = parser.add_argument
    add(
        "--stack",
        "--stack-name",
        dest="stack",
        type=_stack_name,
        default="predict-api",
        help="root stack name (default: %(default)s)",
    )
    add(
        "--region",
        type=_region,
        default=None,
        help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / your profile)",
    )
    add(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="bound on everything after the build: push, scan, change set, update, verification, "
        "health check (default: %(default)s); when reached: exit 11, the update carries on",
    )
    add(
        "--allow-critical-findings",
        action="store_true",
        help="deploy even if the image's ECR scan has CRITICAL findings",
    )
    add(
        "--allow-unsupported-image",
        action="store_true",
        help="deploy an image the ECR/Inspector scanner cannot scan (its base OS is unknown to "
        "the scanner), knowingly unscanned; other scan results still gate",
    )


def build_infra_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scripts/release.sh infra",
        description=INFRA_DESCRIPTION,
        epilog=f"exit codes:\n{exit_code_help()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_shared(parser)
    add = parser.add_argument
    add(
        "--parameters",
        default=None,
        metavar="FILE",
        help="JSON object of root parameters (default: cloudformation/parameters.json; start from "
        "cloudformation/parameters.example.json). ImageTag and ArtifactsBucketName are set by "
        "the tool; GitHubRepository must be yours",
    )
    add(
        "--artifacts-bucket",
        type=_bucket,
        default=None,
        metavar="NAME",
        help="bucket for the packaged templates (default: <stack>-artifacts-<account>-<region>)",
    )
    add(
        "--image-tag",
        type=_sha,
        default=None,
        metavar="SHA",
        help="deploy this image instead of keeping the deployed one: the full commit SHA it was "
        "pushed with (a short SHA is resolved in this repository); it must be in the stack's ECR "
        "repository (else exit 6) and pass the scan gate as in a release (else exit 14); not "
        "with --package-only",
    )
    add(
        "--dry-run",
        action="store_true",
        help="bootstrap and package, then show the change set and delete it; nothing else changes",
    )
    add(
        "--package-only",
        type=_directory,
        default=None,
        metavar="DIR",
        help="bootstrap and package into DIR/cloudformation/root.yaml (DIR outside "
        "cloudformation/), copy .taskcat.yml next to it (for `taskcat test run`); no deploy, "
        "so no --image-tag",
    )
    return parser


def _directory(value: str) -> str:
    if not value:  # an unset shell variable, not "no packaging"
        raise argparse.ArgumentTypeError("empty directory: expected a path such as build/packaged")
    out = Path(value).resolve()
    # Packaging writes DIR/cloudformation/root.yaml: inside the templates' folder it would sit
    # among the sources (and checkov, which scans that whole folder, would check it as one).
    if out.is_relative_to(TEMPLATES_DIR.resolve()):
        raise argparse.ArgumentTypeError(
            f"{value!r} is inside cloudformation/, the folder being packaged (the output would "
            "sit among its sources): choose a directory outside it, such as build/packaged"
        )
    if out == REPO_ROOT:
        raise argparse.ArgumentTypeError(
            f"{value!r} is the repository's root: the packaged cloudformation/root.yaml would "
            "overwrite the source one; choose another directory, such as build/packaged"
        )
    return value


def _bucket(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise argparse.ArgumentTypeError(
            f"invalid bucket name {value!r}: 3-63 lowercase letters, digits, dots, hyphens"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scripts/release.sh",
        description=DESCRIPTION,
        epilog=f"{ENVIRONMENT}\n\nexit codes:\n{exit_code_help()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_shared(parser)
    add = parser.add_argument
    add(
        "--tag",
        type=_sha,
        default=None,
        metavar="SHA",
        help="deploy this existing ECR tag instead of HEAD's; needs --no-build; a short SHA is "
        "resolved with git inside this repository",
    )
    add(
        "--no-build",
        dest="build",
        action="store_false",
        help="do not build or push; the tag (HEAD's SHA by default) must be in ECR",
    )
    add(
        "--image",
        type=_image_ref,
        default=None,
        metavar="REF",
        help="push this local image (already built and tested, e.g. by CI) as HEAD's SHA instead "
        "of building; its org.opencontainers.image.revision label must be HEAD's SHA",
    )
    add(
        "--dry-run",
        action="store_true",
        help="build (unless the tag is in ECR), push nothing; create the change set, print it, "
        "delete it; nothing is executed",
    )
    add(
        "--allow-dirty",
        action="store_true",
        help="with --dry-run only: build a work tree with uncommitted changes as a local image "
        "(<sha>-dirty); a dirty build is never pushed, so a commit's tag always holds that commit",
    )
    add(
        "--health-url",
        type=_health_url,
        default=None,
        metavar="URL",
        help="check this URL instead of <ServiceUrl>/health (e.g. your domain when the load "
        "balancer has a certificate for it)",
    )
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [INFRA]:
        infra_parser = build_infra_parser()
        args = infra_parser.parse_args(argv[1:])
        if args.image_tag and args.package_only is not None:
            infra_parser.error(
                "--image-tag does not go with --package-only: packaging deploys no image "
                "(taskcat's tests set their own ImageTag); drop one of them"
            )
        args.command = INFRA
        args.poll_interval = float(os.environ.get("RELEASE_POLL_SECONDS", "5"))
        return args
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command = "release"
    if args.tag and args.build:
        parser.error(
            "--tag needs --no-build: a built image is always tagged with HEAD's commit SHA"
        )
    if args.image and (args.tag or not args.build or args.allow_dirty):
        parser.error(
            "--image pushes HEAD's build: it goes with neither --tag, --no-build nor --allow-dirty"
        )
    if args.allow_dirty and not args.dry_run:
        parser.error(
            "--allow-dirty needs --dry-run: a dirty build is never pushed (its tag would name a "
            "commit whose content it does not hold)"
        )
    builder = os.environ.get("CONTAINER_BUILDER", "")
    if builder and builder not in BUILDERS:
        parser.error(f"CONTAINER_BUILDER must be docker, podman or buildah, got {builder!r}")
    return args


def fail(code: int, message: str, details: list[str] | None = None) -> int:
    for line in details or []:
        print(f"    {line}", file=sys.stderr)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    if os.environ.get("RELEASE_DEBUG") == "1":
        traceback.print_exc()
    return int(code)


def main(argv: list[str] | None = None, session: object | None = None) -> int:
    args = parse(argv)
    try:
        import boto3  # noqa: F401 - the deploy extra; deliberately absent from the runtime image
    except ImportError:
        return fail(
            ExitCode.PREREQUISITE,
            "boto3 is not installed: run `bash scripts/bootstrap.sh dev` (or pip install boto3), "
            "or set RELEASE_PYTHON to a python that has it",
        )
    from release_tool import aws_errors, infra, release

    command = infra if args.command == INFRA else release
    state = command.new_state(args.stack)
    try:
        return int(command.start(args, state, session))
    except ReleaseError as error:
        return fail(error.code, error.message, error.details)
    except KeyboardInterrupt:
        return fail(ExitCode.INTERRUPTED, state.interrupted_message())
    except Exception as error:  # the promise is: never a traceback
        known = aws_errors.classify(error, state)
        if known is not None:
            return fail(known.code, known.message)
        return fail(
            ExitCode.ERROR,
            f"unexpected {type(error).__name__}: {error} "
            "(a bug; RELEASE_DEBUG=1 shows the traceback)",
        )
