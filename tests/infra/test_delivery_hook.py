"""The contract-check lifecycle hook (cloudformation/hooks/contract_check), on its own, against a
fake service on 127.0.0.1: the answer it gives ECS decides whether production traffic moves.
Response format: ECS Developer Guide, "Lambda hooks for Amazon ECS service deployments"."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import CFN_DIR, REPO_ROOT

HOOK_DIR = CFN_DIR / "hooks" / "contract_check"
GOOD = {
    "/health": (200, "application/json", {"status": "ok"}),
    "/predict": (200, "application/json", {"score": 0.75}),
}


def load_hook():
    spec = importlib.util.spec_from_file_location("contract_check_app", HOOK_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the timeout case hangs up before the answer: a broken pipe is expected


@pytest.fixture
def fake_service(monkeypatch):
    """The new tasks behind the test listener; `answers` says what each path returns."""
    state = {"answers": dict(GOOD), "delay": 0.0, "hits": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["hits"].append(self.path)
            state["hosts"].append(self.headers["Host"])
            time.sleep(state["delay"])
            status, media_type, body = state["answers"].get(self.path, (404, "text/html", "x"))
            payload = json.dumps(body).encode() if media_type.endswith("json") else b"<html>"
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("TEST_HOST", "127.0.0.1")
    state["port"] = server.server_address[1]
    monkeypatch.setenv("TEST_PORT", str(state["port"]))
    monkeypatch.setenv("CHECK_TIMEOUT_SECONDS", "0.5")
    monkeypatch.delenv("LOAD_BALANCER_NAME", raising=False)
    yield state
    server.shutdown()
    server.server_close()


EVENT = {
    "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/predict-api/predict-api",
    "targetServiceRevisionArn": (
        "arn:aws:ecs:us-east-1:123456789012:service-revision/predict-api/predict-api/2"
    ),
}


def test_a_service_that_keeps_the_contract_passes(fake_service, capsys):
    assert load_hook().handler(EVENT) == {"hookStatus": "SUCCEEDED"}
    assert sorted(fake_service["hits"]) == ["/health", "/predict"]
    assert "SUCCEEDED" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("path", "answer", "phrase"),
    [
        ("/predict", (200, "application/json", {"prediction": 0.75}), "lacks 'score'"),
        ("/predict", (200, "application/json", {"score": "high"}), "body.score is str"),
        ("/predict", (200, "application/json", {"score": 1.5}), "above the contract's maximum"),
        ("/predict", (200, "text/html", "<html>"), "content type text/html"),
        ("/health", (503, "application/json", {"status": "ok"}), "status 503"),
        ("/health", (200, "application/json", {"status": "ok", "x": 1}), "does not allow"),
    ],
)
def test_an_answer_off_the_contract_fails_the_hook(fake_service, capsys, path, answer, phrase):
    fake_service["answers"][path] = answer
    assert load_hook().handler(EVENT) == {"hookStatus": "FAILED"}
    logged = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert any(p.startswith(path) and phrase in p for p in logged["problems"]), logged


def test_a_service_that_does_not_answer_in_time_fails_the_hook(fake_service, capsys):
    fake_service["delay"] = 1.5
    started = time.monotonic()
    assert load_hook().handler(EVENT) == {"hookStatus": "FAILED"}
    assert time.monotonic() - started < 2 * 1.5  # bounded by the timeout, not the slow server
    assert "no answer within 0.5 s" in capsys.readouterr().out


def test_a_refused_connection_fails_the_hook(fake_service, monkeypatch):
    monkeypatch.setenv("TEST_PORT", "9")  # discard port: nothing listens
    assert load_hook().handler(EVENT) == {"hookStatus": "FAILED"}


def test_the_shipped_contract_is_the_committed_one():
    """The function carries its own copy (it ships as its directory); `make openapi` rewrites
    docs/openapi.json, and this keeps the copy equal: cp docs/openapi.json HOOK_DIR."""
    shipped = json.loads((HOOK_DIR / "openapi.json").read_text())
    assert shipped == json.loads((REPO_ROOT / "docs" / "openapi.json").read_text()), (
        f"cp docs/openapi.json {HOOK_DIR.relative_to(REPO_ROOT)}/"
    )


def test_the_checker_knows_every_schema_keyword_the_contract_uses():
    known = {"$ref", "type", "required", "properties", "additionalProperties", "minimum",
             "maximum", "items", "description", "example", "format"}  # fmt: skip
    contract = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    used: set[str] = set()

    def walk(schema):
        used.update(schema)
        for sub in schema.get("properties", {}).values():
            walk(sub)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(schema[key])

    for schema in contract["components"]["schemas"].values():
        walk(schema)
    assert used <= known, used - known


def test_the_hook_calls_the_load_balancers_private_address_by_its_name(
    aws_env, fake_service, monkeypatch
):
    """Inside the VPC the internet-facing load balancer's name resolves to public addresses (the
    path out through the NAT, which the test port does not admit): the hook connects to the
    load balancer's own network interface ("ELB app/NAME/ID", moto's EC2 here, its address
    127.0.0.1 so that the call stays on this machine) and sends the name as Host."""
    import boto3

    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(
        SubnetId=subnet, PrivateIpAddress="127.0.0.1", Description="ELB app/predi/0123"
    )
    ec2.create_network_interface(  # another load balancer's interface: not this one
        SubnetId=subnet, PrivateIpAddress="127.0.0.9", Description="ELB app/other/4567"
    )
    monkeypatch.setenv("TEST_HOST", "predi-123.us-east-1.elb.amazonaws.invalid")  # resolves nowhere
    monkeypatch.setenv("LOAD_BALANCER_NAME", "app/predi/0123")
    assert load_hook().handler(EVENT) == {"hookStatus": "SUCCEEDED"}
    port = fake_service["port"]
    assert set(fake_service["hosts"]) == {f"predi-123.us-east-1.elb.amazonaws.invalid:{port}"}
