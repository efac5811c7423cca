"""cloudformation/policies/edge.guard over the rendered templates (cfn-guard-rs, in process): the
defaults keep every rule; each opt-out (WAF off, deletion protection off) breaks exactly its own
rule; and each rule fails on a template without the property it guards."""

from __future__ import annotations

import copy
import re

import cfn_guard_rs
import pytest

from .conftest import (
    CERTIFICATE_ARN,
    CFN_DIR,
    STACK,
    edge_params,
    monitoring_params,
    render,
    service_params,
)

RULES = (CFN_DIR / "policies" / "edge.guard").read_text()
RULE_NAMES = set(re.findall(r"^rule (\w+)", RULES, re.MULTILINE))
BUCKET = "predict-api-edge-accesslogsbucket-1abcdefghijk"
WEB_ACL_ARN = (
    f"arn:aws:wafv2:us-east-1:123456789012:regional/webacl/{STACK}-edge/"
    "0123abcd-0123-4567-89ab-0123456789ab"
)


def service(**overrides):
    edge = {"AccessLogsBucketName": BUCKET, "WebAclArn": WEB_ACL_ARN}
    return ("service.yaml", service_params(**{**edge, **overrides}))


VARIANTS = {
    "edge-waf": ("edge.yaml", edge_params()),
    "edge-no-waf": ("edge.yaml", edge_params(EnableWaf="false")),
    "edge-newer-region": ("edge.yaml", edge_params(ElbLogDeliveryAccount="none"), "il-central-1"),
    "service": service(),
    "service-https": service(CertificateArn=CERTIFICATE_ARN),
    "service-domain": service(DomainName="api.example.com", HostedZoneId="Z0123456789ABCDEFGHIJ"),
    "monitoring": ("monitoring.yaml", monitoring_params(WebAclName=f"{STACK}-edge")),
}
# The parameters a user may turn off break the rule that says they are on, and nothing else.
OPT_OUTS = {
    "service-no-waf": (service(WebAclArn=""), {"internet_alb_has_web_acl"}),
    "service-deletable": (service(DeletionProtection="false"), {"alb_deletion_protection_enabled"}),
}


def guard(stack: dict):
    return cfn_guard_rs.run_checks({"Resources": stack["Resources"]}, RULES)


def failed_rules(report) -> set[str]:
    return {clause.Rule.name for clause in report.not_compliant}


def rendered_variant(spec) -> dict:
    template, params, *region = spec
    return render(template, params, *region)


@pytest.fixture(scope="module")
def rendered():
    return {name: rendered_variant(spec) for name, spec in VARIANTS.items()}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rules_pass_on_the_default_edge(rendered, variant):
    report = guard(rendered[variant])
    assert failed_rules(report) == set(), report.not_compliant


def test_every_rule_applies_to_some_template(rendered):
    compliant = set()
    for stack in rendered.values():
        compliant |= set(guard(stack).compliant)
    assert compliant == RULE_NAMES


@pytest.mark.parametrize("name", sorted(OPT_OUTS))
def test_an_opt_out_breaks_exactly_its_own_rule(name):
    spec, expected = OPT_OUTS[name]
    assert failed_rules(guard(rendered_variant(spec))) == expected


def _drop_attribute(key):
    def mutate(stack):
        lb = stack["Resources"]["LoadBalancer"]["Properties"]
        lb["LoadBalancerAttributes"] = [a for a in lb["LoadBalancerAttributes"] if a["Key"] != key]

    return mutate


def _pop(path):
    def mutate(stack):
        node = stack["Resources"]
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])

    return mutate


def _set(path, value):
    def mutate(stack):
        node = stack["Resources"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _drop_tls_statement(stack):
    document = stack["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s["Effect"] != "Deny"]


BUCKET_PROPERTIES = ["AccessLogsBucket", "Properties"]
BREAKAGES = {
    "alb_access_logs_enabled": ("service", _drop_attribute("access_logs.s3.enabled")),
    "alb_deletion_protection_enabled": ("service", _drop_attribute("deletion_protection.enabled")),
    "internet_alb_has_web_acl": ("service", _pop(["WebAclAssociation"])),
    # A changed value, not a dropped block: cfn-guard-rs 0.3 cuts off a long report (one retrieval
    # error per clause of a missing block) and then cannot parse it.
    "s3_buckets_private_and_encrypted": (
        "edge-waf",
        _set([*BUCKET_PROPERTIES, "PublicAccessBlockConfiguration", "BlockPublicPolicy"], False),
    ),
    "s3_bucket_policies_deny_plain_http": ("edge-waf", _drop_tls_statement),
    "https_listeners_use_tls13": (
        "service-domain",
        _set(["HttpsListener", "Properties", "SslPolicy"], "ELBSecurityPolicy-2016-08"),
    ),
    "http_redirects_to_https_when_https_is_served": (
        "service-domain",
        _set(
            ["HttpListener", "Properties", "DefaultActions"],
            [{"Type": "forward", "TargetGroupArn": "TargetGroup"}],
        ),
    ),
}


def test_every_rule_has_a_breakage_case():
    assert set(BREAKAGES) == RULE_NAMES


@pytest.mark.parametrize("rule", sorted(BREAKAGES))
def test_each_rule_fails_without_the_property_it_guards(rendered, rule):
    variant, mutate = BREAKAGES[rule]
    stack = copy.deepcopy(rendered[variant])
    mutate(stack)
    assert rule in failed_rules(guard(stack))


def test_an_empty_access_log_bucket_does_not_count():
    stack = copy.deepcopy(rendered_variant(service()))
    for attribute in stack["Resources"]["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]:
        if attribute["Key"] == "access_logs.s3.bucket":
            attribute["Value"] = ""
    assert "alb_access_logs_enabled" in failed_rules(guard(stack))
