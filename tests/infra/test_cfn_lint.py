"""cfn-lint (API) over the root and every child: nothing but W3002; and it sees a miswired child."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

from .conftest import ALL_TEMPLATES, CFN_DIR

# The root's local TemplateURLs are the design (`aws cloudformation package` rewrites them).
ALLOWED = {"W3002"}


def findings(path: Path, regions=("us-east-1", "eu-west-1")) -> list[str]:
    matches = lint_file(path, config=ManualArgs(regions=list(regions)))
    return [
        f"{m.rule.id} {m.filename}:{m.linenumber} {m.message}"
        for m in matches
        if m.rule.id not in ALLOWED
    ]


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_template_has_no_error_or_warning(name):
    assert findings(CFN_DIR / name) == []


def test_lint_sees_a_parameter_the_child_does_not_declare(tmp_path):
    # Proves the root's wiring is really checked against the children (E3043), not only parsed.
    copy = tmp_path / "cloudformation"
    shutil.copytree(CFN_DIR, copy, ignore=shutil.ignore_patterns("*.png"))
    root = copy / "root.yaml"
    root.write_text(
        root.read_text().replace(
            "ImagesToKeep: !Ref ImagesToKeep", "ImagesToKep: !Ref ImagesToKeep"
        )
    )
    assert any(f.startswith("E3043") for f in findings(root, regions=("us-east-1",)))
