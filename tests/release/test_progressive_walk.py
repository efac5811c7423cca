"""docs/delivery.md's canary walk: every line it shows a canary release printing is what the
release tool prints for the same canary played by the stand-in (deployment ids aside)."""

from __future__ import annotations

import re
from pathlib import Path

from release_tool.errors import ExitCode

from tests.release.conftest import release
from tests.release.progressive_stand_in import canary_until, snapshot

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


def test_the_documented_exit_codes_are_the_tools():
    from release_tool.errors import MEANINGS

    table = DOC.read_text().split("How it ends:", 1)[1]
    for code in re.findall(r"\| (\d+) \|$", table, re.MULTILINE):
        assert ExitCode(int(code)) in MEANINGS
