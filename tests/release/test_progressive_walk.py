"""docs/delivery.md against the release tool, so that the two cannot drift: every line its canary
walk shows is what a canary release prints, and every ending its table documents is played by the
stand-in through the command line and ends in the documented exit code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from release_tool.errors import ExitCode

from tests.release.conftest import release, release_cli
from tests.release.progressive_stand_in import ALARMS, canary_until, hook, snapshot
from tests.release.stand_in import NEW_TAG

DOC = Path(__file__).resolve().parents[2] / "docs" / "delivery.md"


def normalised(line: str) -> str:
    return re.sub(r"^deployment \S+?(:| )", r"deployment ID\1", line.strip())


def test_the_documented_canary_output_is_what_a_canary_release_prints(stand_in_stack, capsys):
    walk = DOC.read_text().split("## A canary release, step by step", 1)[1]
    shown = re.search(r"```text\n(.*?)```", walk, re.DOTALL).group(1).splitlines()
    script = [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)]
    code, _ = release(script)
    printed = [normalised(line) for line in capsys.readouterr().out.splitlines()]
    followed = [line for line in printed if line.startswith(("deployment ID", "hook "))]
    assert code == ExitCode.OK
    assert [normalised(line) for line in shown] == followed


def documented_endings() -> list[tuple[str, int]]:
    """(ending, exit code) of each row of the table after "How it ends"."""
    table = DOC.read_text().split("How it ends", 1)[1]
    return [(e, int(c)) for e, c in re.findall(r"^\| (.+?) \| (\d+) \|$", table, re.MULTILINE)]


# --- each ending, as the stand-in plays it -----------------------------------------------------

ALARM = ALARMS[0]
LINEAR = {
    "strategy": "LINEAR",
    "bakeTimeInMinutes": 10,
    "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 3},
}
FAILED_CHECK = [hook("FAILED")]
PAUSE_WAITS = [hook("SUCCEEDED"), hook("AWAITING_ACTION", kind="PAUSE", hook_id="hook-2")]
PAUSE_TIMED_OUT = [hook("SUCCEEDED"), hook("TIMED_OUT", kind="PAUSE", hook_id="hook-2")]


def alarmed(stage: str, production: float, config: dict | None = None) -> list[dict]:
    """ECS sees an app alarm in `stage` and moves all traffic back."""
    rolled = {
        "alarms": "TRIGGERED",
        "triggered": [ALARM],
        "rollback": "CloudWatch alarm triggered",
        "config": config,
    }
    return [
        snapshot("IN_PROGRESS", stage, production=production, test=100, config=config),
        snapshot("ROLLBACK_IN_PROGRESS", stage, production=0, test=0, **rolled),
        snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", production=0, test=0, **rolled),
    ]


def stopped(status: str, stage: str, reason: str) -> dict:
    return {**snapshot(status, stage, production=100, test=100), "statusReason": reason}


BEFORE_PRODUCTION = canary_until("POST_TEST_TRAFFIC_SHIFT")
# Documented ending -> {case: (strategy, script, extra arguments, what stderr or stdout says)}.
# fmt: off
SCENARIOS = {
    "released": {
        "canary": (
            "CANARY",
            [*canary_until("end"), snapshot("SUCCESSFUL", "CLEAN_UP", production=100, test=100)],
            [],
            f"released {NEW_TAG} to stack predict-api",
        ),
    },
    "the new tasks never turned healthy (circuit breaker)": {
        "tasks fail to start": (
            "CANARY",
            [snapshot("IN_PROGRESS", "SCALE_UP", running=0),
             snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", running=0, breaker="TRIGGERED",
                      rollback="tasks failed to start")],
            [],
            "failed to start or turn healthy (circuit breaker)",
        ),
    },
    "an app alarm during the canary, a step or the bake (named)": {
        "canary": (
            "CANARY",
            [*canary_until("PRODUCTION_TRAFFIC_SHIFT"), *alarmed("PRODUCTION_TRAFFIC_SHIFT", 10)],
            [],
            f"{ALARM} went into ALARM during PRODUCTION_TRAFFIC_SHIFT",
        ),
        "linear step": (
            "LINEAR",
            alarmed("PRODUCTION_TRAFFIC_SHIFT", 50, LINEAR),
            [],
            f"{ALARM} went into ALARM during PRODUCTION_TRAFFIC_SHIFT",
        ),
        "bake": (
            "CANARY",
            [*canary_until("BAKE_TIME"), *alarmed("BAKE_TIME", 100)],
            [],
            f"{ALARM} went into ALARM during BAKE_TIME",
        ),
    },
    "the contract check failed, or the approval was refused or timed out; no production traffic "
    "moved": {
        "contract check failed": (
            "CANARY",
            [*BEFORE_PRODUCTION,
             snapshot("ROLLBACK_IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=0,
                      hooks=FAILED_CHECK, rollback="Lifecycle hook returned FAILED"),
             snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", test=0, hooks=FAILED_CHECK)],
            [],
            "(FAILED) failed the new tasks before production traffic moved",
        ),
        "approval refused": (  # aws ecs continue-service-deployment --action ROLLBACK
            "CANARY",
            [*BEFORE_PRODUCTION,
             snapshot("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=100, hooks=PAUSE_WAITS),
             snapshot("ROLLBACK_IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=0,
                      hooks=PAUSE_WAITS),
             snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", test=0, hooks=PAUSE_WAITS)],
            [],
            "a lifecycle hook failed the new tasks before production traffic moved",
        ),
        "approval timed out": (
            "CANARY",
            [*BEFORE_PRODUCTION,
             snapshot("ROLLBACK_IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", test=0,
                      hooks=PAUSE_TIMED_OUT, rollback="Lifecycle hook timed out"),
             snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", test=0, hooks=PAUSE_TIMED_OUT)],
            [],
            "(TIMED_OUT) failed the new tasks before production traffic moved",
        ),
    },
    "`--timeout` reached (the release carries on in ECS; the command to keep watching is "
    "printed)": {
        "during the bake": (
            "CANARY",
            [*canary_until("BAKE_TIME"), snapshot("IN_PROGRESS", "BAKE_TIME", 100, 100)],
            ["--timeout", "6"],
            "keep watching with `aws cloudformation describe-stack-events",
        ),
    },
    "someone stopped the deployment (`aws ecs stop-service-deployment`), or ECS rolled it back "
    "after production traffic moved without naming an alarm": {
        "stopped": (
            "CANARY",
            [*canary_until("BAKE_TIME"), stopped("STOPPED", "BAKE_TIME", "stopped by a user")],
            [],
            "the service deployment ended STOPPED: stopped by a user",
        ),
        "rolled back": (
            "CANARY",
            [*canary_until("BAKE_TIME"),
             snapshot("ROLLBACK_IN_PROGRESS", "BAKE_TIME", production=0, test=0,
                      rollback="rollback requested by a user"),
             snapshot("ROLLBACK_SUCCESSFUL", "CLEAN_UP", production=0, test=0,
                      rollback="rollback requested by a user")],
            [],
            "ECS rolled the release back: rollback requested by a user",
        ),
    },
}
# fmt: on
CASES = [
    pytest.param(ending, code, case, id=f"{code}-{case}")
    for ending, code in documented_endings()
    for case in SCENARIOS.get(ending) or [None]
]


def test_the_table_and_the_scenarios_name_the_same_endings():
    assert len(CASES) >= 6  # the table was found and read
    assert sorted(SCENARIOS) == sorted(ending for ending, _ in documented_endings())


@pytest.mark.parametrize(("ending", "documented", "case"), CASES)
def test_each_documented_ending_exits_with_its_documented_code(
    ending, documented, case, stand_in_stack, monkeypatch, capsys
):
    assert case is not None, f"docs/delivery.md documents {ending!r}: play it in SCENARIOS"
    strategy, script, args, said = SCENARIOS[ending][case]
    poll = 0.5 if "--timeout" in args else 0  # a real clock: do not spin on moto meanwhile
    code, _ = release_cli(script, monkeypatch, *args, strategy=strategy, poll_seconds=poll)
    printed = capsys.readouterr()
    assert code == documented, printed.err
    assert said in printed.out + printed.err
    if "no production traffic moved" in ending:
        assert not re.search(r"production new [1-9]", printed.out)
