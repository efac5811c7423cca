"""Command line of the deployer. scripts/release.sh calls it twice: `preflight` before the image
build (fail fast on credentials and stack state), then `deploy`. Never shows a traceback unless
RELEASE_DEBUG=1: every failure is one line on stderr and a documented exit code (errors.py)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from typing import NoReturn
from urllib.parse import urlsplit

from release_tool.errors import ExitCode, ReleaseError

TAG_PATTERN = re.compile(r"^[0-9a-f]{7,40}$")  # the root stack's ImageTag AllowedPattern
STACK_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")  # CloudFormation's own rule
PROG = "release"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + message
        print(f"{PROG}: error: {message} (see scripts/release.sh --help)", file=sys.stderr)
        sys.exit(ExitCode.USAGE)


def _tag(value: str) -> str:
    if not TAG_PATTERN.match(value):
        raise argparse.ArgumentTypeError(
            f"invalid tag {value!r}: expected a git commit SHA, 7 to 40 lowercase hex digits"
        )
    return value


def _stack_name(value: str) -> str:
    if not STACK_NAME_PATTERN.match(value):
        raise argparse.ArgumentTypeError(
            f"invalid stack name {value!r}: a letter, then up to 127 letters, digits or hyphens"
        )
    return value


def _health_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an unclosed [IPv6] host or a port that is not a number
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"invalid health URL {value!r}: expected http(s)://HOST[/PATH]"
        )
    return value


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {value!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in ("preflight", "deploy"):
        command = sub.add_parser(name)
        command.add_argument("--stack", type=_stack_name, default="predict-api")
        command.add_argument("--region", default=None)
    deploy = sub.choices["deploy"]
    deploy.add_argument("--tag", type=_tag, required=True)
    deploy.add_argument("--dry-run", action="store_true")
    deploy.add_argument("--push-image", metavar="LOCAL_IMAGE", default=None)
    deploy.add_argument("--builder", choices=("docker", "podman", "buildah"), default=None)
    deploy.add_argument("--timeout", type=_seconds, default=1800.0)
    deploy.add_argument("--health-url", type=_health_url, default=None)
    return parser


def _fail(code: int, message: str, details: list[str] | None = None) -> int:
    for line in details or []:
        print(f"    {line}", file=sys.stderr)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    if os.environ.get("RELEASE_DEBUG") == "1":
        traceback.print_exc()
    return int(code)


def main(argv: list[str] | None = None, session: object | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import boto3  # the deploy extra; deliberately absent from the runtime image
    except ImportError:
        return _fail(
            ExitCode.PREREQUISITE,
            "boto3 is not installed: run `bash scripts/bootstrap.sh dev` (or pip install boto3)",
        )
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
    )
    from botocore.exceptions import ConnectionError as AwsConnectionError

    from release_tool import release
    from release_tool.output import Reporter

    reporter = Reporter()
    try:
        region = args.region or os.environ.get("AWS_REGION")  # botocore reads AWS_DEFAULT_REGION
        clients = release.Clients.from_session(session or boto3.session.Session(), region)
        if args.command == "preflight":
            release.preflight(clients, args.stack, reporter)
            return ExitCode.OK
        options = release.Options(
            stack_name=args.stack,
            tag=args.tag,
            dry_run=args.dry_run,
            local_image=args.push_image,
            builder=args.builder,
            timeout=args.timeout,
            poll_interval=float(os.environ.get("RELEASE_POLL_SECONDS", "5")),
            health_url=args.health_url,
        )
        return int(release.run(clients, options, reporter))
    except ReleaseError as error:
        return _fail(error.code, error.message, error.details)
    except NoCredentialsError:
        return _fail(ExitCode.PREREQUISITE, "no AWS credentials found")
    except NoRegionError:
        return _fail(ExitCode.PREREQUISITE, release.NO_REGION)
    except AwsConnectionError as error:
        # Endpoint, connect timeout, proxy or TLS failure: nothing was changed (release.run
        # reports one after the change set was executed itself, as exit 11). An unknown region
        # has no endpoint either: its host name does not resolve.
        return _fail(
            ExitCode.PREREQUISITE,
            f"cannot reach AWS: {error}: check --region (or AWS_REGION), the network or proxy, "
            "and AWS_ENDPOINT_URL if set",
        )
    except ClientError as error:
        err = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "AWS call")
        return _fail(ExitCode.ERROR, f"{operation} failed: {err.get('Code')}: {err.get('Message')}")
    except BotoCoreError as error:
        return _fail(ExitCode.ERROR, f"AWS SDK error: {error}")
    except KeyboardInterrupt:
        return _fail(
            ExitCode.INTERRUPTED,
            "interrupted; a stack update already started carries on in CloudFormation",
        )
    except Exception as error:  # the promise is: never a traceback
        return _fail(
            ExitCode.ERROR,
            f"unexpected {type(error).__name__}: {error} "
            "(a bug; RELEASE_DEBUG=1 shows the traceback)",
        )
