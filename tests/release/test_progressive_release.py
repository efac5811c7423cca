"""A CANARY release against moto_server plus the stand-in for ECS service deployments
(tests/release/progressive_stand_in.py names its sources): the stages and traffic split as they
move, and each way a release ends with its own exit code."""

from __future__ import annotations

import re
from datetime import timedelta

import boto3
import pytest
from release_tool.deadline import Clock
from release_tool.deployments import Seen, ending, needed_minutes
from release_tool.errors import ExitCode, ReleaseError

from tests.release.conftest import release, release_cli
from tests.release.progressive_stand_in import (
    ALARMS,
    ARN,
    CANARY_CONFIG,
    HOOK_NAME,
    OLD_DEPLOYMENT,
    canary_until,
    hook,
    older,
    play_service_deployments,
    snapshot,
)
from tests.release.stand_in import NEW_TAG, STACK


def test_a_canary_release_prints_each_stage_and_the_traffic_split(stand_in_stack, capsys):
    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]
    code, player = release(script)
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert player.shown == len(script)  # followed to the end, not left at the first look
    assert "deployment new1111111111111111: CANARY, at least 20 min with its bakes" in out
    stages = re.findall(r"deployment new1+ \w+ stage (\w+)", out)
    assert stages == [
        "PRE_SCALE_UP",
        "SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "CLEAN_UP",
        "CLEAN_UP",
    ]
    assert "production new 0% / old 100%, test new 100%" in out
    assert "production new 10% / old 90%, test new 100%" in out
    assert "production new 100% / old 0%" in out
    assert f"hook {HOOK_NAME} (AWS_LAMBDA): SUCCEEDED" in out
    assert f"released {NEW_TAG} to stack {STACK}" in out


def test_a_failed_contract_check_rolls_back_before_production_traffic_and_exits_16(
    stand_in_stack, capsys
):
    failed = [hook("FAILED")]
    script = [
        *canary_until("POST_TEST_TRAFFIC_SHIFT"),
        snapshot("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=100, hooks=[hook("IN_PROGRESS")]),
        snapshot("ROLLBACK_IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=0, hooks=failed,
                 rollback="Lifecycle hook returned FAILED"),
        snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", test=0, hooks=failed,
                 rollback="Lifecycle hook returned FAILED"),
    ]  # fmt: skip
    with pytest.raises(ReleaseError, match="before production traffic moved") as raised:
        release(script)
    out = capsys.readouterr().out
    assert raised.value.code == ExitCode.HOOK_ROLLBACK == 16
    assert f"{HOOK_NAME} (FAILED)" in raised.value.message
    assert "UPDATE_ROLLBACK_COMPLETE" in raised.value.message
    assert not re.search(r"production new [1-9]", out)  # no client reached the new tasks


def test_an_older_failed_deployment_of_the_service_is_not_taken_for_the_releases(
    stand_in_stack, monkeypatch, capsys
):
    """The stand-in lists oldest first, a deployment a page, and filters each page after cutting
    it: only a caller that reads every page finds the release's deployment, and only the createdAt
    filter keeps the service's older deployments out of what it follows."""
    failed = f"{ARN}:service-deployment/predict-api/predict-api/fail2222222222222222"
    history = [
        older(failed, "ROLLBACK_SUCCESSFUL", 2, alarms="TRIGGERED", triggered=[ALARMS[0]],
              rollback="CloudWatch alarm triggered"),
        older(OLD_DEPLOYMENT, "SUCCESSFUL", 1),
    ]  # fmt: skip
    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]
    code, player = release_cli(script, monkeypatch, "--timeout", "60", history=history)
    printed = capsys.readouterr()
    assert code == ExitCode.OK, printed.err
    assert "deployment new1111111111111111: CANARY, at least 20 min" in printed.out
    assert player.shown == len(script)  # followed to its end
    assert "fail2222" not in printed.out + printed.err
    assert "old0000" not in printed.out + printed.err
    # The listing before the execute reads the history; every later one asks for the deployments
    # created since the operation's first stack event (AWS's clock), and each reads every page.
    dated = [request for request in player.list_requests if "createdAt" in request]
    assert dated and player.list_requests[-len(dated) :] == dated
    since = {request["createdAt"]["after"] for request in dated}
    assert max(since) <= player.started.timestamp()
    assert min(since) > max(deployment["createdAt"].timestamp() for deployment in history)
    assert any("nextToken" in request for request in player.list_requests)


def someone_elses_deployment(session: boto3.session.Session, history: list[dict], during: str):
    """A deployment of the service started after the release did, before it executed its change
    set (someone's `aws ecs update-service` while the scan or the change set was awaited): in
    progress then, rolled back once the change set executes."""
    meanwhile = f"{ARN}:service-deployment/predict-api/predict-api/fail3333333333333333"

    def start(**_kwargs):
        if history[-1]["serviceDeploymentArn"] != meanwhile:
            history.append(older(meanwhile, "IN_PROGRESS", 0))

    def roll_back(**_kwargs):
        if history[-1]["serviceDeploymentArn"] == meanwhile:
            failed = older(meanwhile, "ROLLBACK_SUCCESSFUL", 0, breaker="TRIGGERED",
                           rollback="tasks failed to start")  # fmt: skip
            history[-1] = {**failed, "createdAt": history[-1]["createdAt"]}

    session.events.register(f"after-call.{during}", start)
    session.events.register("after-call.cloudformation.ExecuteChangeSet", roll_back)


@pytest.mark.parametrize(
    "during", ["ecr.DescribeImageScanFindings", "cloudformation.CreateChangeSet"]
)
def test_a_deployment_started_before_the_release_executes_its_change_set_is_not_followed(
    during, stand_in_stack, monkeypatch, capsys
):
    history = [older(OLD_DEPLOYMENT, "SUCCESSFUL", 1)]
    session = boto3.session.Session()
    someone_elses_deployment(session, history, during)
    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]
    code, player = release_cli(
        script, monkeypatch, "--timeout", "60", history=history, session=session
    )
    printed = capsys.readouterr()
    assert code == ExitCode.OK, printed.err
    meanwhile = history[-1]  # it was there while the release ran, and ended badly
    assert meanwhile["serviceDeploymentArn"].endswith("/fail3333333333333333"), history
    assert meanwhile["status"] == "ROLLBACK_SUCCESSFUL"
    assert player.shown == len(script)  # the release's own, followed to its end
    assert "fail3333" not in printed.out + printed.err
    # Once the change set executed, asked only for the deployments created since.
    since = {r["createdAt"]["after"] for r in player.list_requests if "createdAt" in r}
    assert since and max(since) <= player.started.timestamp()
    assert min(since) > meanwhile["createdAt"].timestamp()


def test_a_client_clock_ahead_of_aws_does_not_hide_the_releases_deployment(
    stand_in_stack, monkeypatch, capsys
):
    """AWS stamps stack events and ECS's createdAt with its own clock; this machine's may run
    ahead (SigV4 accepts up to 5 minutes of skew: AWS General Reference, "Signature Version 4
    signing"). Played: every AWS time two minutes behind the client's."""
    skew = timedelta(minutes=2)
    history = [older(OLD_DEPLOYMENT, "SUCCESSFUL", 1)]
    session = boto3.session.Session()

    def aws_clock_events(parsed, **_kwargs):
        for event in parsed.get("StackEvents") or []:
            event["Timestamp"] -= skew

    session.events.register("after-call.cloudformation.DescribeStackEvents", aws_clock_events)
    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]

    def play_behind(session, *args):
        player = play_service_deployments(session, *args)

        def aws_clock_deployment(**_kwargs):  # after the player stamped the release's deployment
            player.started -= skew

        session.events.register("after-call.cloudformation.ExecuteChangeSet", aws_clock_deployment)
        return player

    monkeypatch.setattr("tests.release.conftest.play_service_deployments", play_behind)
    code, player = release_cli(
        script, monkeypatch, "--timeout", "60", history=history, session=session
    )
    printed = capsys.readouterr()
    assert code == ExitCode.OK, printed.err
    assert "deployment new1111111111111111: CANARY, at least 20 min" in printed.out
    assert player.shown == len(script)  # followed to its end


def test_an_alarm_during_the_bake_rolls_back_and_exits_15_naming_the_alarm(stand_in_stack):
    script = [
        *canary_until("CLEAN_UP"),
        snapshot("ROLLBACK_IN_PROGRESS", "BAKE_TIME", production=0, test=0, alarms="TRIGGERED",
                 triggered=["predict-api-app-5xx-rate"], rollback="CloudWatch alarm triggered"),
        snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", production=0, test=0, alarms="TRIGGERED",
                 triggered=["predict-api-app-5xx-rate"], rollback="CloudWatch alarm triggered"),
    ]  # fmt: skip
    with pytest.raises(ReleaseError, match="predict-api-app-5xx-rate went into ALARM") as raised:
        release(script)
    assert raised.value.code == ExitCode.ALARM_ROLLBACK
    assert "during BAKE_TIME" in raised.value.message


def test_tasks_that_never_turn_healthy_trip_the_circuit_breaker_and_exit_10(stand_in_stack):
    script = [
        snapshot("IN_PROGRESS", "SCALE_UP", running=0),
        snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", running=0, breaker="TRIGGERED",
                 rollback="tasks failed to start"),
    ]  # fmt: skip
    with pytest.raises(ReleaseError, match="circuit breaker") as raised:
        release(script)
    assert raised.value.code == ExitCode.CIRCUIT_BREAKER


def test_switching_from_rolling_to_canary_rolls_once_then_moves_traffic(stand_in_stack, capsys):
    """ECS Developer Guide, "Updating the deployment strategy from rolling update to Amazon ECS
    blue/green": with no deployment in progress, the update that adds advancedConfiguration and
    the new strategy runs as a rolling deployment; the next one uses the new strategy."""
    rolling = {"strategy": "ROLLING"}
    switch = [
        snapshot("IN_PROGRESS", "SCALE_UP", production=None, test=None, running=1, config=rolling),
        snapshot("SUCCESSFUL", "CLEAN_UP", production=None, test=None, config=rolling),
    ]
    code, _ = release(switch)
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "rolls (strategy ROLLING): ECS switches a service's strategy" in out
    assert "production new" not in out  # a rolling deployment moves no weights

    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]
    code, _ = release(script, tag="c" * 40)  # the next release
    assert code == ExitCode.OK
    assert "CANARY, at least 20 min" in capsys.readouterr().out


def test_timeout_covers_the_bake_warns_when_too_short_and_ends_in_11(stand_in_stack, capsys):
    now = [0.0]
    clock = Clock(monotonic=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    baking = [snapshot("IN_PROGRESS", "BAKE_TIME", production=100, test=100)] * 30
    with pytest.raises(ReleaseError, match="--timeout 600 s reached") as raised:
        release([*canary_until("BAKE_TIME"), *baking], timeout=600, poll_interval=60, clock=clock)
    assert raised.value.code == ExitCode.TIMEOUT
    assert "--timeout leaves 10 min, less than this CANARY release needs (20 min)" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("seen", "code"),
    [
        (Seen(status="IN_PROGRESS", stage="BAKE_TIME"), None),
        (Seen(status="SUCCESSFUL", stage="CLEAN_UP"), None),
        (Seen(status="ROLLBACK_SUCCESSFUL", triggered_alarms=["a"], failed_hooks=["h"]), 15),
        (Seen(status="ROLLBACK_SUCCESSFUL", circuit_breaker_triggered=True), 10),
        (Seen(status="ROLLBACK_SUCCESSFUL", failed_hooks=["hook x (TIMED_OUT)"]), 16),
        (Seen(status="ROLLBACK_SUCCESSFUL", stage_at_rollback="POST_TEST_TRAFFIC_SHIFT"), 16),
        (Seen(status="ROLLBACK_SUCCESSFUL", stage_at_rollback="PRODUCTION_TRAFFIC_SHIFT"), 12),
        (Seen(status="STOPPED", stage="BAKE_TIME", status_reason="stopped by a user"), 12),
    ],
)
def test_each_ending_has_its_exit_code(seen, code):
    found = ending(seen)
    assert (found and int(found.code)) == code


@pytest.mark.parametrize(
    ("config", "minutes"),
    [
        (CANARY_CONFIG, 10 + 5 + 5),
        ({"strategy": "LINEAR", "bakeTimeInMinutes": 10, "linearConfiguration": {
            "stepPercent": 25.0, "stepBakeTimeInMinutes": 3}}, 10 + 3 * 3 + 5),
        ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10}, 10 + 5),
    ],
)  # fmt: skip
def test_the_time_a_release_needs_follows_its_bakes(config, minutes):
    assert needed_minutes(config) == minutes
