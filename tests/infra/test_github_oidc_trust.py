"""The deploy role's trust policy, rendered with cloud-radar, evaluated against GitHub OIDC tokens.

Each token below is what GitHub issues for that kind of job (claims as documented in GitHub's OIDC
reference); AWS STS turns a claim into the condition key
token.actions.githubusercontent.com:<claim>.
"""

from __future__ import annotations

import re

import pytest

from .conftest import allows, oidc_params, render

ISSUER = "token.actions.githubusercontent.com"
REPO = "octo-org/predict-api"
# The GitHub claims AWS STS evaluates as condition keys: aud and sub, and since 2026-01 these
# provider-specific ones. A trust condition on any other claim could never match.
STS_GITHUB_CLAIMS = {
    "aud",
    "sub",
    "actor",
    "actor_id",
    "job_workflow_ref",
    "repository",
    "repository_id",
    "workflow",
    "ref",
    "environment",
    "enterprise_id",
}


def token(*, repo=REPO, ref="refs/heads/main", environment=None, event="push", aud=None) -> dict:
    """The claims of a job's OIDC token, as GitHub builds its default subject."""
    if environment:
        context = f"environment:{environment}"
    elif event == "pull_request":
        context = "pull_request"
    else:
        context = f"ref:{ref}"
    claims = {
        "aud": aud or "sts.amazonaws.com",  # configure-aws-credentials asks for this audience
        "sub": f"repo:{repo}:{context}",
        "repository": re.sub(r"@[0-9]+", "", repo),  # the name only, also for immutable subjects
        "ref": ref,
        "event_name": event,
    }
    if environment:
        claims["environment"] = environment
    return claims


def sts_context(claims: dict) -> dict[str, str]:
    return {f"{ISSUER}:{k}": v for k, v in claims.items() if k in STS_GITHUB_CLAIMS}


def trust(**params) -> dict:
    stack = render("github-oidc.yaml", oidc_params(**params))
    return stack["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]


def may_assume(document: dict, claims: dict) -> bool:
    return allows(document, "sts:AssumeRoleWithWebIdentity", None, sts_context(claims))


PRODUCTION = {"GitHubEnvironment": "production"}


def test_the_environment_defaults_to_production():
    params = {
        k: v for k, v in oidc_params().items() if k not in {"GitHubEnvironment", "GitHubBranch"}
    }
    defaults = render("github-oidc.yaml", params)
    document = defaults["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert may_assume(document, token(environment="production"))


def test_the_release_job_on_main_in_production_may_assume_the_role():
    assert may_assume(trust(**PRODUCTION), token(environment="production"))


@pytest.mark.parametrize(
    "claims",
    [
        # Any workflow on any branch gets the production subject by declaring the environment.
        token(environment="production", ref="refs/heads/feature-x"),
        token(environment="production", ref="refs/tags/v1.0.0"),
        token(event="pull_request", ref="refs/pull/7/merge"),
        token(environment="production", event="pull_request", ref="refs/pull/7/merge"),
        token(repo="evil-org/predict-api", environment="production"),
        token(repo="octo-org/predict-api-fork", environment="production"),
        token(environment="staging"),
        token(),  # main, but outside the production environment
        token(environment="production", aud="https://github.com/octo-org"),
    ],
    ids=[
        "feature-branch-declaring-production",
        "tag-declaring-production",
        "pull-request",
        "pull-request-declaring-production",
        "another-repository",
        "a-fork-named-alike",
        "another-environment",
        "main-without-the-environment",
        "wrong-audience",
    ],
)
def test_everything_else_is_refused(claims):
    assert not may_assume(trust(**PRODUCTION), claims)


def test_without_an_environment_only_the_branch_may_assume_the_role():
    document = trust(GitHubEnvironment="", GitHubBranch="main")
    assert may_assume(document, token())
    assert not may_assume(document, token(ref="refs/heads/feature-x"))
    assert not may_assume(document, token(event="pull_request", ref="refs/pull/7/merge"))


def test_a_repository_with_immutable_subjects_is_matched_by_its_ids():
    immutable = "octo-org@123456/predict-api@789012"
    document = trust(GitHubRepository=immutable, **PRODUCTION)
    assert may_assume(document, token(repo=immutable, environment="production"))
    assert not may_assume(document, token(repo=REPO, environment="production"))


def test_every_condition_key_is_one_sts_evaluates():
    for statement in trust(**PRODUCTION)["Statement"]:
        for tests in statement["Condition"].values():
            for key in tests:
                issuer, _, claim = key.partition(":")
                assert issuer == ISSUER and claim in STS_GITHUB_CLAIMS, key
