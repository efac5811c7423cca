"""The deployer's command line refuses bad input and unreachable AWS before any AWS call, with one
line on stderr and a documented exit code (never exit 1 "unexpected")."""

from __future__ import annotations

import socket

import pytest
from botocore.exceptions import ConnectTimeoutError, ProxyConnectionError, SSLError
from release_tool import cli
from release_tool.errors import ExitCode
from release_tool.release import NO_REGION

TAG = "b" * 40


class NoAwsSession:
    """Fails the test if the command line gets as far as creating a client."""

    def client(self, *_args, **_kwargs):
        raise AssertionError("bad input must be refused before any AWS client exists")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["deploy", "--tag", TAG, "--health-url", "notaurl"],
            "argument --health-url: invalid health URL 'notaurl': expected http(s)://HOST[/PATH]",
        ),
        (
            ["deploy", "--tag", TAG, "--health-url", "ftp://example.com/health"],
            "argument --health-url: invalid health URL 'ftp://example.com/health'",
        ),
        (
            ["deploy", "--tag", TAG, "--health-url", "https:///health"],
            "argument --health-url: invalid health URL 'https:///health'",
        ),
        (
            ["deploy", "--tag", TAG, "--health-url", "http://[::1/health"],
            "argument --health-url: invalid health URL 'http://[::1/health'",
        ),
        (
            ["preflight", "--stack", "bad name!"],
            "argument --stack: invalid stack name 'bad name!': a letter, then up to 127 letters",
        ),
        (["deploy", "--tag", TAG, "--stack", "-x"], "argument --stack: expected one argument"),
        (["preflight", "--stack", "a" * 129], "argument --stack: invalid stack name"),
    ],
)
def test_bad_input_exits_2_before_anything_runs(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv, session=NoAwsSession())
    assert exited.value.code == ExitCode.USAGE == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"release: error: {message}")


@pytest.mark.parametrize(
    "url", ["https://api.example.com/health", "http://127.0.0.1:8000/health", "https://[::1]/"]
)
def test_good_health_urls_and_stack_names_are_accepted(url):
    args = cli.build_parser().parse_args(
        ["deploy", "--tag", TAG, "--health-url", url, "--stack", "Predict-api-2"]
    )
    assert (args.health_url, args.stack) == (url, "Predict-api-2")


@pytest.fixture
def offline_aws(monkeypatch, tmp_path):
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the block ends: nothing listens there


def test_an_unreachable_endpoint_exits_3_in_one_line(offline_aws, capsys):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    offline_aws.setenv("AWS_ENDPOINT_URL", endpoint)
    code = cli.main(["preflight", "--region", "us-east-1"])
    assert code == ExitCode.PREREQUISITE == 3
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f'release: error: cannot reach AWS: Could not connect to the endpoint URL: "{endpoint}/":'
        " check --region (or AWS_REGION), the network or proxy, and AWS_ENDPOINT_URL if set"
    ]


def test_no_region_exits_3_in_one_line(offline_aws, capsys):
    code = cli.main(["preflight"])
    assert code == ExitCode.PREREQUISITE
    assert capsys.readouterr().err.splitlines() == [f"release: error: {NO_REGION}"]


class UnreachableAwsSession:
    """Every client raises `error` on its first call, as botocore does when it cannot connect."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def client(self, *_args, **_kwargs):
        return self

    def get_caller_identity(self):
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        ConnectTimeoutError(endpoint_url="https://sts.us-east-1.amazonaws.com/"),
        ProxyConnectionError(proxy_url="http://proxy.internal:3128", error="refused"),
        SSLError(endpoint_url="https://sts.us-east-1.amazonaws.com/", error="bad certificate"),
    ],
    ids=type,
)
def test_every_kind_of_connection_failure_exits_3_with_its_own_words(error, capsys):
    # All are botocore ConnectionError; a proxy failure has no endpoint_url to show.
    code = cli.main(["preflight", "--region", "us-east-1"], session=UnreachableAwsSession(error))
    assert code == ExitCode.PREREQUISITE == 3
    assert capsys.readouterr().err.splitlines() == [
        f"release: error: cannot reach AWS: {error}: check --region (or AWS_REGION), the network "
        "or proxy, and AWS_ENDPOINT_URL if set"
    ]
