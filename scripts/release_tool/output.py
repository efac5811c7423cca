"""Human-readable progress on stdout; errors go to stderr from cli.py."""

from __future__ import annotations

import sys
from typing import TextIO


class Reporter:
    """Prints progress lines at once (flushed): in CI logs they must appear as things happen."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stdout
        print(line, file=stream, flush=True)

    def step(self, message: str) -> None:
        self._write(f"==> {message}")

    def info(self, message: str) -> None:
        self._write(f"    {message}")

    def warn(self, message: str) -> None:
        """A warning goes to stderr, where errors go: seen even when stdout is piped away."""
        print(f"warning: {message}", file=sys.stderr, flush=True)
