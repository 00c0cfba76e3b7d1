"""Time, injected: every component that needs "now" takes a `Clock`."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch, and a way to wait."""

    def now(self) -> float:
        """Return the current time as a unix timestamp (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` (a fake clock just advances)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))
