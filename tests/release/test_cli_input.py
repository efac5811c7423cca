"""Bad input and broken AWS configuration, through scripts/release.sh as a user runs it: one line on
stderr, the documented exit code (2 for a malformed value, 3 for a missing prerequisite), and
nothing run before it: no build, no AWS call."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from release_tool.errors import ExitCode

from tests.helpers import free_port
from tests.release.stand_in import BASH, add_fake_podman, one_line_error

REPO_ROOT = Path(__file__).resolve().parents[2]
TAG = "b" * 40


def release(*args: str, env: dict[str, str], path: Path) -> subprocess.CompletedProcess:
    """release.sh with AWS pointed at env only: no ~/.aws, no inherited AWS_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean |= {"PATH": f"{path}:{Path(sys.executable).parent}:/usr/bin:/bin"}
    clean |= {"RELEASE_PYTHON": sys.executable, "AWS_EC2_METADATA_DISABLED": "true"}
    clean.pop("CONTAINER_BUILDER", None)
    return subprocess.run(
        [BASH, str(REPO_ROOT / "scripts/release.sh"), *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


@pytest.fixture
def no_aws(tmp_path) -> dict[str, str]:
    """Keys and a region, and an endpoint nobody listens on (free_port: no other test worker's
    server is handed it meanwhile): any AWS call would fail with 3."""
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "HOME": str(tmp_path),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--stack"], "argument --stack/--stack-name: expected one argument"),
        (["extra"], "unrecognized arguments: extra"),
        (["--tag", "abc1234"], "--tag needs --no-build: a built image is always tagged"),
        (["--no-build", "--tag=latest"], "argument --tag: invalid tag 'latest'"),
        (["--timeout", "soon"], "argument --timeout: invalid number of seconds 'soon'"),
        (["--timeout", "0"], "argument --timeout: invalid number of seconds '0'"),
        (["--stack", "bad name!"], "argument --stack/--stack-name: invalid stack name 'bad name!'"),
        (["--stack", "9lives"], "argument --stack/--stack-name: invalid stack name '9lives'"),
        (["--stack", "a" * 129], "argument --stack/--stack-name: invalid stack name"),
        # 118 at most: the bootstrap stack <stack>-bootstrap must fit CloudFormation's 128.
        (["--stack", "a" * 119], "argument --stack/--stack-name: invalid stack name"),
        (["infra", "--stack", "a" * 119], "argument --stack/--stack-name: invalid stack name"),
        (["--region", "us_east_1"], "argument --region: invalid region 'us_east_1'"),
        # Well formed but in no partition of botocore's data: refused before any retry.
        (["--region", "us-nowhere-1"], "argument --region: unknown region 'us-nowhere-1'"),
        (["--stack-name", "9lives"], "argument --stack/--stack-name: invalid stack name"),
        (["--health-url", "notaurl"], "argument --health-url: invalid health URL 'notaurl'"),
        (["--health-url=ftp://x/health"], "argument --health-url: invalid health URL 'ftp:"),
        (["--health-url", "https:///health"], "argument --health-url: invalid health URL"),
        (["--health-url", "http://h:99999/health"], "invalid health URL 'http://h:99999/health'"),
        (["--health-url", "http://[::1/health"], "invalid health URL 'http://[::1/health'"),
        (["--health-url", "http://h:0/"], "invalid health URL 'http://h:0/'"),
        (["--allow-dirty"], "--allow-dirty needs --dry-run: a dirty build is never pushed"),
    ],
)
def test_bad_input_exits_2_before_anything_runs(args, message, no_aws, tmp_path):
    log = tmp_path / "podman.log"
    add_fake_podman(tmp_path, log)
    result = release(*args, env=no_aws, path=tmp_path)
    assert result.returncode == ExitCode.USAGE, result.stderr
    line = one_line_error(result)
    assert message in line
    assert line.endswith("(see --help)")
    assert not log.exists()  # no build, no push
    assert result.stdout == ""  # not even the preflight's first step


def test_the_longest_stack_name_passes_the_argument_checks(no_aws, tmp_path):
    result = release("--stack", "a" * 118, "--no-build", "--tag", TAG, env=no_aws, path=tmp_path)
    # Past the argument checks: the first AWS call finds nobody listening.
    assert result.returncode == ExitCode.PREREQUISITE, result.stderr


def test_a_bad_container_builder_exits_2(no_aws, tmp_path):
    result = release(env={**no_aws, "CONTAINER_BUILDER": "kaniko"}, path=tmp_path)
    assert result.returncode == ExitCode.USAGE
    assert "CONTAINER_BUILDER must be docker, podman or buildah, got 'kaniko'" in (
        one_line_error(result)
    )


def test_help_needs_nothing_and_prints_every_exit_code(tmp_path):
    result = release("--help", env={}, path=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    table = result.stdout.split("exit codes:\n")[1].splitlines()
    assert [int(line.split()[0]) for line in table] == [int(code) for code in ExitCode]


def test_a_missing_profile_exits_3(no_aws, tmp_path):
    env = {**no_aws, "AWS_PROFILE": "nosuch"}
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    result = release("--no-build", "--tag", TAG, env=env, path=tmp_path)
    assert result.returncode == ExitCode.PREREQUISITE, result.stderr
    assert one_line_error(result) == (
        "AWS profile 'nosuch' (AWS_PROFILE) is not in your AWS config: create it with "
        "`aws configure --profile nosuch` (or `aws configure sso`), or unset AWS_PROFILE"
    )


def test_an_sso_profile_without_a_login_exits_3(no_aws, tmp_path):
    config = tmp_path / "sso-config"
    config.write_text(
        "[profile work]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = Admin\nregion = us-east-1\n"
        "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
    )
    env = {**no_aws, "AWS_PROFILE": "work", "AWS_CONFIG_FILE": str(config)}
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    result = release("--no-build", "--tag", TAG, env=env, path=tmp_path)
    assert result.returncode == ExitCode.PREREQUISITE, result.stderr
    assert one_line_error(result) == (
        "no valid AWS SSO login for profile 'work': run `aws sso login --profile work`, then retry"
    )


def test_a_malformed_region_from_the_environment_exits_2(no_aws, tmp_path):
    result = release(
        "--no-build", "--tag", TAG, env={**no_aws, "AWS_REGION": "us_east_1"}, path=tmp_path
    )
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "AWS region 'us_east_1'" in one_line_error(result)


def test_an_unreachable_endpoint_exits_3(no_aws, tmp_path):
    result = release("--no-build", "--tag", TAG, env=no_aws, path=tmp_path)
    assert result.returncode == ExitCode.PREREQUISITE
    assert one_line_error(result) == (
        f'cannot reach AWS: Could not connect to the endpoint URL: "{no_aws["AWS_ENDPOINT_URL"]}/":'
        " check --region (or AWS_REGION), the network or proxy, and AWS_ENDPOINT_URL if set"
    )


@pytest.fixture(params=["Proxy authentication required", "<html><body>Sign in</body></html>"])
def not_aws(request):
    """What a captive portal or a misconfigured proxy answers: 200, and not AWS."""
    body = request.param.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answer_that_is_not_aws_exits_3(no_aws, not_aws, tmp_path):
    result = release(
        "--no-build", "--tag", TAG, env={**no_aws, "AWS_ENDPOINT_URL": not_aws}, path=tmp_path
    )
    assert result.returncode == ExitCode.PREREQUISITE, result.stderr
    assert one_line_error(result) == (
        "the AWS endpoint answered with something that is not an AWS response (a proxy or "
        "captive portal?): check HTTPS_PROXY/HTTP_PROXY and AWS_ENDPOINT_URL"
    )
