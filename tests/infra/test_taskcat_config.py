""".taskcat.yml: account-specific values come from SSM, so `taskcat test run` works without a
~/.taskcat.yml (as in .github/workflows/taskcat.yml) and never creates the account's OIDC
provider."""

from __future__ import annotations

import yaml

from .conftest import REPO_ROOT, check_rules, load


def test_every_test_reuses_the_accounts_oidc_provider_from_ssm():
    config = yaml.safe_load((REPO_ROOT / ".taskcat.yml").read_text())
    project = config["project"]["parameters"]
    # An account has one GitHub OIDC provider: a test (or region) that creates it collides with the
    # others (EntityAlreadyExists). Project parameters apply to every test unless one overrides it.
    assert project["ExistingOidcProviderArn"] == (
        "$[taskcat_ssm_/predict-api/taskcat/oidc-provider-arn]"
    )
    for name, test in config["tests"].items():
        assert "ExistingOidcProviderArn" not in test.get("parameters", {}), name


def test_the_deploy_role_reads_the_bucket_that_holds_the_packaged_templates():
    # taskcat's own bucket ($[taskcat_autobucket]) is not where `package` put the nested templates.
    config = yaml.safe_load((REPO_ROOT / ".taskcat.yml").read_text())
    bucket = config["project"]["parameters"]["ArtifactsBucketName"]
    assert bucket == "$[taskcat_ssm_/predict-api/taskcat/artifacts-bucket]"
    for name, test in config["tests"].items():
        assert "ArtifactsBucketName" not in test.get("parameters", {}), name


def test_every_test_passes_the_root_templates_rules_and_one_walks_the_domain_path():
    config = yaml.safe_load((REPO_ROOT / ".taskcat.yml").read_text())
    root = load("root.yaml")
    for test in config["tests"].values():
        params = {**config["project"]["parameters"], **test.get("parameters", {})}
        check_rules(root, params, "us-east-1")  # raises with the rule's description
    domain = config["tests"]["domain"]["parameters"]
    assert domain["DomainName"] == "$[taskcat_ssm_/predict-api/taskcat/domain-name]"
    assert domain["HostedZoneId"] == "$[taskcat_ssm_/predict-api/taskcat/hosted-zone-id]"
    assert "CertificateArn" not in domain
