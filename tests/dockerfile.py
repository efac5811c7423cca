"""The Dockerfile read as data: its instructions, its stages, and the Python environment its
runtime stage sets.

The Dockerfile tests read the instructions; the integration tests and the benchmark run the
service with the image's Python environment (python_env), so a setting added to the Dockerfile
reaches every place the service runs outside the image without a second copy.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, with continuation lines joined and comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def stages(path: Path = DOCKERFILE) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (everything after the first FROM)."""
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(path):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def python_env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The PYTHON* variables the runtime stage's ENV sets, as the service runs with them.

    Not PYTHONDONTWRITEBYTECODE: it is there for the image's read-only root; outside the image
    the bytecode cache may fill, or every test server would compile its imports again."""
    env: dict[str, str] = {}
    for keyword, arguments in stages(path)[-1]:
        if keyword != "ENV":
            continue
        words = shlex.split(arguments)
        if words and "=" not in words[0]:  # the legacy form: ENV NAME value with spaces
            env[words[0]] = " ".join(words[1:])
            continue
        for pair in words:
            name, _, value = pair.partition("=")
            env[name] = value
    return {
        name: value
        for name, value in env.items()
        if name.startswith("PYTHON") and name != "PYTHONDONTWRITEBYTECODE"
    }
