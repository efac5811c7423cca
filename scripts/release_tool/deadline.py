"""--timeout: one bound for everything after the build, and the clock tests replace."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from release_tool.errors import ExitCode, ReleaseError

DEFAULT_TIMEOUT = 1800  # seconds: --timeout's default for the release and the infrastructure deploy


@dataclass
class Clock:
    """Injected so that tests can run a 30-minute timeout in no time."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class Deadline:
    """--timeout: one bound for everything after the build (push, scan, change set, update,
    verification, health check), so that a CI job limit above it can be computed."""

    def __init__(self, seconds: float, clock: Clock) -> None:
        self.seconds = seconds
        self.clock = clock
        self.end = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the deadline."""
        self.clock.sleep(min(seconds, self.remaining()))

    def timed_out(
        self, message: str, watch: str | None, details: list[str] | None = None
    ) -> ReleaseError:
        follow = f"; keep watching with `{watch}`" if watch else ""
        return ReleaseError(
            ExitCode.TIMEOUT, f"--timeout {self.seconds:.0f} s reached: {message}{follow}", details
        )
