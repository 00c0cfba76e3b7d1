"""The `ActivitySource` protocol every source implements."""

from __future__ import annotations

from typing import Protocol

from edge.records import Observation


class ActivitySource(Protocol):
    """Yields new observations, in order, each at most once per call.

    ``fetch`` returns what is new since the previous call (possibly nothing)
    and raises `edge.errors.SourceError` when the source is unreachable or
    malformed. ``exhausted`` is True once a finite source (a trace) has
    nothing more to give; live sources are never exhausted.
    """

    name: str

    def fetch(self) -> list[Observation]: ...

    @property
    def exhausted(self) -> bool: ...
