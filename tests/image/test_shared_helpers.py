"""The image tests take the helpers they share through this folder's conftest.py only, never
from another module of the suite: one place says what they depend on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ALLOWED = {"tests.image.conftest", ".conftest"}


def suite_imports(module: Path) -> list[str]:
    """The modules of the suite (tests.* or relative) a module imports from."""
    found = []
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            name = "." * node.level + (node.module or "")
            if node.level or name.split(".")[0] == "tests":
                found.append(name)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "tests"]
    return found


@pytest.mark.parametrize("module", sorted(HERE.glob("test_*.py")), ids=lambda path: path.name)
def test_shared_helpers_come_through_this_folders_conftest(module):
    assert set(suite_imports(module)) <= ALLOWED, suite_imports(module)
