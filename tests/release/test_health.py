"""The post-release health check: what is healthy, retries, HTTPS verified (a certificate for
another host or an untrusted one fails fast), and a certificate still pending validation."""

from __future__ import annotations

import datetime
import io
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from release_tool import health
from release_tool.deadline import Deadline
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter

from tests.release.conftest import FakeClock


def check(url: str, *, attempts: int, delay: float, timeout: float = 600, **kwargs):
    """health.check with a fake clock; returns (result or error, sleeps, printed lines)."""
    clock, out = FakeClock(), io.StringIO()
    try:
        deadline = Deadline(timeout, clock)
        result = health.check(url, deadline, Reporter(out), attempts, delay, **kwargs)
    except ReleaseError as error:
        result = error
    return result, clock.sleeps, out.getvalue().splitlines()


def test_a_healthy_service_answers_at_once(health_server):
    url = f"{health_server.url}/health"
    assert check(url, attempts=3, delay=1) == (url, [], [])


def test_a_200_without_status_ok_is_not_healthy_and_each_attempt_is_shown(health_server):
    health_server.body = {"status": "degraded"}
    url = f"{health_server.url}/health"
    error, sleeps, lines = check(url, attempts=3, delay=2)
    assert error.code == ExitCode.HEALTH_FAILED
    assert error.message.endswith("after 3 attempts: HTTP 200 {'status': 'degraded'}")
    assert sleeps == [2, 2]
    assert lines == [
        f"    GET {url}: attempt {n}/3: HTTP 200 {{'status': 'degraded'}}; retry in 2 s"
        for n in (1, 2)
    ]


def test_retries_stop_at_the_timeout_with_exit_11(health_server):
    health_server.status = 503
    url = f"{health_server.url}/health"
    error, sleeps, _ = check(url, attempts=12, delay=20, timeout=45)
    assert error.code == ExitCode.TIMEOUT == 11
    assert error.message == (
        f"--timeout 45 s reached: GET {url} still failing after 3 attempts (HTTP 503); keep "
        f"watching with `curl -fsS {url}`"
    )
    assert sleeps == [20, 20, 5]  # never sleeps past the deadline


def test_a_url_that_is_not_http_is_refused():
    error, _, _ = check("ftp://example.com/health", attempts=1, delay=1)
    assert error.message == "health URL 'ftp://example.com/health' is not an http(s) URL"


@dataclass
class HttpsServer:
    url: str
    cert_file: Path  # the self-signed certificate: a CA file a client may choose to trust
    hits: list[str]


def self_signed(names: list[x509.GeneralName]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "predict-api test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def serve_https(tmp_path):
    """HTTPS on 127.0.0.1 with a self-signed certificate for the given names."""
    servers = []

    def start(names: list[x509.GeneralName]) -> HttpsServer:
        cert_pem, key_pem = self_signed(names)
        cert_file, key_file = tmp_path / f"cert{len(servers)}.pem", tmp_path / "key.pem"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"status": "ok"}')

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return HttpsServer(f"https://127.0.0.1:{server.server_address[1]}", cert_file, hits)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


LOOPBACK = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


def test_a_certificate_for_another_name_fails_at_once_with_a_hint(serve_https, monkeypatch):
    """Like an ALB whose certificate names a domain, reached by its own DNS name."""
    server = serve_https([x509.DNSName("api.example.com")])
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_file))  # trusted, but not for this host
    error, sleeps, _ = check(f"{server.url}/health", attempts=5, delay=1)
    assert error.code == ExitCode.HEALTH_FAILED
    assert error.message.startswith(f"GET {server.url}/health: TLS certificate not valid")
    assert error.message.endswith("pass --health-url https://<domain>/health")
    assert sleeps == []  # retrying cannot fix a certificate
    assert server.hits == []


def test_an_untrusted_certificate_is_refused(serve_https, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    server = serve_https(LOOPBACK)
    error, sleeps, _ = check(f"{server.url}/health", attempts=5, delay=1)
    assert error.code == ExitCode.HEALTH_FAILED
    assert "TLS certificate not valid for this host (self-signed certificate)" in error.message
    assert "SSL_CERT_FILE" in error.message
    assert sleeps == []
    assert server.hits == []  # no request was sent over the unverified connection


def test_a_certificate_trusted_through_a_ca_file_is_healthy(serve_https, monkeypatch):
    server = serve_https(LOOPBACK)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_file))
    url = f"{server.url}/health"
    assert check(url, attempts=2, delay=1) == (url, [], [])
    assert server.hits == ["/health"]


def test_a_certificate_pending_validation_is_reported_with_its_record(
    aws_env, serve_https, monkeypatch
):
    """ACM's DescribeCertificate: Status PENDING_VALIDATION, and DomainValidationOptions[]
    .ResourceRecord the CNAME that validates it (ACM user guide, "DNS validation"); moto plays
    a requested certificate pending for its first minute."""
    acm = boto3.client("acm")
    arn = acm.request_certificate(DomainName="api.example.com", ValidationMethod="DNS")[
        "CertificateArn"
    ]
    (option,) = acm.describe_certificate(CertificateArn=arn)["Certificate"][
        "DomainValidationOptions"
    ]
    record = option["ResourceRecord"]
    server = serve_https(LOOPBACK)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_file))
    error, sleeps, _ = check(f"{server.url}/health", attempts=5, delay=1, certificate_arn=arn)
    assert error.code == ExitCode.HEALTH_FAILED
    assert error.message.startswith(
        "the certificate for api.example.com is still PENDING_VALIDATION"
    )
    assert error.details == [f"CNAME {record['Name']} -> {record['Value']}"]
    assert sleeps == []  # not a timeout
    assert server.hits == []


def test_an_issued_certificate_lets_the_check_go_on(aws_env, serve_https, monkeypatch):
    server = serve_https(LOOPBACK)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_file))
    cert_pem, key_pem = self_signed([x509.DNSName("api.example.com")])
    arn = boto3.client("acm").import_certificate(Certificate=cert_pem, PrivateKey=key_pem)[
        "CertificateArn"
    ]
    url = f"{server.url}/health"
    assert check(url, attempts=2, delay=1, certificate_arn=arn) == (url, [], [])


def test_an_http_url_does_not_read_the_certificate(health_server):
    """Plain HTTP (no domain): the certificate, if any, is not this URL's business."""
    url = f"{health_server.url}/health"
    missing = "arn:aws:acm:us-east-1:123456789012:certificate/does-not-matter"
    assert check(url, attempts=1, delay=1, certificate_arn=missing) == (url, [], [])
