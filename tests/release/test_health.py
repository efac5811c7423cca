"""The post-release health check: what is healthy, retries, a TLS mismatch failing fast."""

from __future__ import annotations

import datetime
import io
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from release_tool import health
from release_tool.errors import ExitCode, ReleaseError
from release_tool.output import Reporter
from release_tool.progress import Deadline

from tests.release.test_failure_paths import FakeClock


def check(url: str, *, attempts: int, delay: float, timeout: float = 600):
    """health.check with a fake clock; returns (result or error, sleeps, printed lines)."""
    clock, out = FakeClock(), io.StringIO()
    try:
        result = health.check(url, Deadline(timeout, clock), Reporter(out), attempts, delay)
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


@pytest.fixture
def https_server(tmp_path):
    """HTTPS with a certificate for another name, like an ALB whose certificate names a domain."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.example.com")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
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
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_certificate_for_another_name_fails_at_once_with_a_hint(https_server):
    error, sleeps, _ = check(f"{https_server}/health", attempts=5, delay=1)
    assert error.code == ExitCode.HEALTH_FAILED
    assert error.message.startswith(f"GET {https_server}/health: TLS certificate not valid")
    assert error.message.endswith("pass --health-url https://<domain>/health")
    assert sleeps == []  # retrying cannot fix a certificate
