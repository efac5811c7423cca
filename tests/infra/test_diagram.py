"""The architecture PNG cannot drift silently: its node/edge listing must equal what
scripts/diagram.py derives from the templates now, and the PNG must be the one generated with it."""

from __future__ import annotations

import hashlib

import diagram  # scripts/diagram.py (pythonpath includes scripts/)
import pytest

from .conftest import CHILDREN

REGENERATE = "templates and picture differ: run `make diagram` and commit both files"


def committed_listing() -> tuple[str, str]:
    first, _, rest = diagram.LISTING.read_text().partition("\n")
    label, _, digest = first.partition(" ")
    assert label == "png-sha256", "architecture.txt must start with the PNG's digest"
    return digest, rest


def test_picture_lists_exactly_what_the_templates_hold():
    _, listing = committed_listing()
    assert listing == diagram.listing(), REGENERATE


def test_png_is_the_one_generated_with_that_listing():
    digest, _ = committed_listing()
    assert hashlib.sha256(diagram.PNG.read_bytes()).hexdigest() == digest, REGENERATE
    assert diagram.PNG.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_picture_shows_every_promised_part():
    nodes = diagram.nodes()
    kinds = {kind for _, kind, _ in nodes.values()}
    assert {
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ECS::Service",
        "AWS::ECR::Repository",
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
        "AWS::IAM::OIDCProvider",
    } <= kinds
    private = [n for n in nodes if n.startswith("PrivateSubnet")]
    assert len(private) == 2  # tasks over two AZs


def test_a_new_resource_type_must_be_placed(monkeypatch):
    original = diagram.load

    def with_new_type(name):
        template = original(name)
        if name == "service.yaml":
            template["Resources"]["Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
        return template

    monkeypatch.setattr(diagram, "load", with_new_type)
    with pytest.raises(SystemExit, match="AWS::SQS::Queue"):
        diagram.listing()


def test_an_edge_to_a_removed_resource_fails(monkeypatch):
    original = diagram.load

    def without_endpoint(name):
        template = original(name)
        template["Resources"].pop("S3GatewayEndpoint", None)
        return template

    monkeypatch.setattr(diagram, "load", without_endpoint)
    with pytest.raises(SystemExit, match="S3GatewayEndpoint"):
        diagram.listing()


def test_the_picture_draws_every_nested_stack():
    assert set(diagram.LAYERS) == set(CHILDREN)
