"""Messages the dashboard's screens and app exchange, as dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.ports import FeedbackOutcome, Health


@dataclass
class StoreChanged(Message):
    """The store file changed (the hub committed, or the dashboard wrote feedback)."""

    version: int


@dataclass
class FeedbackSent(Message):
    """A verdict was sent or saved (posted by a screen, toasted by the app); ``published`` is None
    when there is no relay."""

    outcome: FeedbackOutcome
    published: bool | None
    note: str = ""


@dataclass
class HealthChecked(Message):
    """The health checks finished (they run in a worker thread)."""

    checks: list[Health]
