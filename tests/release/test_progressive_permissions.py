"""The deploy role already allows what following a CANARY release adds (ListServiceDeployments,
DescribeServiceDeployments), on the resources the Service Authorization Reference (policy_sentry,
offline) names for each action: recorded from a canary release against the stand-in."""

from __future__ import annotations

import boto3
from policy_sentry.querying.actions import get_action_data
from policy_sentry.util.arns import does_arn_match
from release_tool.deadline import Clock
from release_tool.errors import ExitCode
from release_tool.output import Reporter
from release_tool.release import Clients, Options, run

from tests.release.conftest import CallRecorder, allows, deploy_role_policy
from tests.release.progressive_stand_in import (
    NEW_DEPLOYMENT,
    SERVICE_ARN,
    canary_until,
    play_service_deployments,
    snapshot,
)
from tests.release.stand_in import NEW_TAG, STACK, play_cloudformation_for_ecs, put_image

FOLLOWING = {"ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments"}


def resources(action: str, params: dict) -> list[str]:
    if action == "ecs:ListServiceDeployments":
        return [SERVICE_ARN]  # the service named by params["cluster"] and params["service"]
    return list(params["serviceDeploymentArns"])


def test_the_deploy_role_allows_following_a_canary_release(stand_in_stack):
    put_image(NEW_TAG)
    session = boto3.session.Session()
    play_cloudformation_for_ecs(session)
    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]
    play_service_deployments(session, "CANARY", script)
    recorder = CallRecorder()
    clients = recorder.attach(Clients.from_session(session, None))
    options = Options(stack_name=STACK, tag=NEW_TAG, poll_interval=0, health_delay=0,
                      clock=Clock(sleep=lambda _s: None))  # fmt: skip
    assert run(clients, options, Reporter()) == ExitCode.OK

    pairs = {
        (action, arn)
        for action, params in recorder.calls
        if action in FOLLOWING
        for arn in resources(action, params)
    }
    assert {action for action, _ in pairs} == FOLLOWING
    assert ("ecs:DescribeServiceDeployments", NEW_DEPLOYMENT) in pairs
    for action, arn in pairs:  # the ARN is of a resource type IAM authorises the action on
        formats = [
            r["resource_arn_format"]
            for r in get_action_data("ecs", action.split(":")[1])["ecs"]
            if r["resource_arn_format"] != "*"
        ]
        assert any(does_arn_match(arn, f) for f in formats), (action, arn, formats)
    policy = deploy_role_policy()
    assert [pair for pair in sorted(pairs) if not allows(policy, *pair)] == []
