"""README "What it costs" prices the stack as the templates deploy it by default, and its sums add
up: a changed default (task size, task count, NAT gateways, WAF, alarms) fails here until the
section is priced again."""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

REPO_ROOT = Path(__file__).resolve().parents[2]
CFN_DIR = REPO_ROOT / "cloudformation"
PRICED_DEFAULTS = ["TaskSize", "DesiredCount", "NatGateways", "EnableWaf"]
OPERATORS = {ast.Add: operator.add, ast.Mult: operator.mul}


def section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index("## What it costs\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else len(readme)]


def root_defaults() -> dict[str, str]:
    root, errors = decode_str((CFN_DIR / "root.yaml").read_text())
    assert not errors, errors
    return {name: str(spec.get("Default")) for name, spec in root["Parameters"].items()}


def arithmetic(expression: str) -> float:
    """Sums and products of plain numbers only (what a price cell holds)."""

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            return OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"not a price sum: {expression!r}")

    return value(ast.parse(expression, mode="eval").body)


def priced_rows() -> list[tuple[str, float, float]]:
    """(component, computed, stated) for each table row whose last cell is `sum = $total`."""
    rows = []
    for line in section().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        match = re.fullmatch(r"(.+?) [=≈] \$([\d.,]+)", cells[-1]) if len(cells) == 3 else None
        if match:
            expression = re.sub(r"[$~]|\bh\b", "", match[1]).replace("\N{MULTIPLICATION SIGN}", "*")
            rows.append((cells[0], arithmetic(expression), float(match[2].replace(",", ""))))
    return rows


@pytest.mark.parametrize("parameter", PRICED_DEFAULTS)
def test_the_priced_defaults_are_the_templates(parameter):
    assert f"`{parameter}={root_defaults()[parameter]}`" in section()


def test_fargate_is_priced_at_the_default_task_size():
    cpu, memory = (int(units) for units in root_defaults()["TaskSize"].split("/"))
    assert f"{cpu / 1024:g} vCPU / {memory / 1024:g} GB" in section()


def test_every_alarm_of_the_templates_is_priced():
    alarms = 0
    for template in CFN_DIR.glob("*.yaml"):
        decoded, _ = decode_str(template.read_text())
        alarms += sum(
            resource["Type"] == "AWS::CloudWatch::Alarm"
            for resource in decoded.get("Resources", {}).values()
        )
    assert f"{alarms} alarms" in section()


def test_each_row_adds_up_and_so_does_the_total():
    rows = priced_rows()
    assert len(rows) >= 8, "the cost table has a row per component"
    for component, computed, stated in rows:
        assert computed == pytest.approx(stated, abs=0.01), component
    total = re.search(r"\*\*fixed total\*\* \| \| \*\*≈ \$(\d+)\*\*", section())
    assert total, "the table ends with the fixed total"
    assert sum(stated for _, _, stated in rows) == pytest.approx(float(total[1]), abs=1)
