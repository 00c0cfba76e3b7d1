"""The `ActivitySource` protocol every source implements."""

from __future__ import annotations

from typing import Protocol

from edge.records import Observation


class ActivitySource(Protocol):
    """Yields new observations, in order, each at most once per call.

    ``fetch`` returns what is new since the previous call (possibly nothing)
    and raises `edge.errors.SourceError` when the source is unreachable or
    malformed. ``exhausted`` is True once a finite source (a trace) has
    nothing more to give; live sources are never exhausted. ``commit`` makes
    what was fetched so far durable (checkpoints); call it before stopping,
    or the last batch is delivered again (with the same ids) on the next start.
    """

    name: str

    def fetch(self) -> list[Observation]: ...

    def commit(self) -> None: ...

    @property
    def exhausted(self) -> bool: ...
