"""What the screens are handed: the `Dashboard` protocol, the optional parts' protocols, their plain data.

Each screen receives a `Dashboard` in its constructor and asks it for rows,
answers and parts; no screen reaches into the app. `tui.dashboard.StoreDashboard`
is the one implementation, built by `tui.app.make_app`. Nothing here imports
Textual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from edge.sources.trace import Trace
from edge.store.observations import ObservationRow
from edge.store.proposals import ProposalFilter, ProposalRow, Stats
from tui.annotation import AnnotationSession

T = TypeVar("T")


@dataclass(frozen=True)
class Part(Generic[T]):
    """An optional part (the relay, the memory): the object, or None and what to tell the user."""

    value: T | None
    note: str = ""

    @property
    def available(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Health:
    """One part's state on the Stats screen; ``hint`` says what to do when it is down."""

    name: str
    ok: bool
    detail: str
    hint: str = ""


HealthFn = Callable[[], list[Health]]


@dataclass(frozen=True)
class DesktopTrigger:
    """How a desktop's answers have moved the hub's trigger, decayed to now (`edge.feedback`).

    ``trigger_offset`` is added to the trigger's logit (accepted +, rejected/ignored -);
    ``interval_extra_s`` to the minimum interval between proposals.
    """

    desktop: str
    trigger_offset: float
    interval_extra_s: float
    updated_at: float


# ------------------------------------------------------------------ memory


@dataclass(frozen=True)
class MemoryHit:
    id: str
    kind: str
    text: str
    score: float | None
    created_at: float | None


@dataclass(frozen=True)
class Reflection:
    id: str
    text: str
    created_at: float | None
    cites: list[MemoryHit] = field(default_factory=list)


class MemoryBackend(Protocol):
    """What the Memory screen needs from the memory stream. Raises `EdgeError` subclasses."""

    def search(self, query: str, k: int = 20) -> list[MemoryHit]: ...

    def reflections(self, limit: int = 20) -> list[Reflection]: ...

    def forget(self, match: str) -> int:
        """Delete every record whose text contains ``match``; return how many went."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------ feedback


@dataclass(frozen=True)
class FeedbackOutcome:
    proposal_id: str
    feedback_id: str
    verdict: str
    desktop: str
    stored: bool
    previous: str | None = None


@dataclass(frozen=True)
class Answered:
    """What became of an answer: sent to the hub (``published``), saved in the store, or refused.

    ``outcome`` is None when the answer was refused (already answered or already
    sent); ``note`` then says why. ``published`` is None when there is no relay.
    """

    outcome: FeedbackOutcome | None
    published: bool | None
    note: str


class FeedbackPublisher(Protocol):
    """Sends a verdict to the hub on ``proactive/v1/<desktop>/feedback``, as a companion does.

    Used from the UI thread only (the relay's outbox lives in the store); `pump` is
    called about four times a second.
    """

    @property
    def connected(self) -> bool: ...

    @property
    def hub_online(self) -> bool: ...

    def describe(self) -> str: ...

    def publish_feedback(self, *, desktop: str, proposal_id: str, verdict: str, now: float) -> str: ...

    def start(self) -> None: ...

    def pump(self) -> None: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------ the dashboard


class Dashboard(Protocol):
    """The services a screen is handed. UI thread only, except `health` (blocking: run it in a worker)."""

    def now(self) -> float: ...

    def proposals(self, which: ProposalFilter) -> list[ProposalRow]:
        """Newest first, with answer time and result; see `edge.store.Store.proposal_rows`."""
        ...

    def observations(self, limit: int = 100) -> list[ObservationRow]: ...

    def desktops(self) -> list[str]: ...

    def stats(self) -> Stats: ...

    def triggers(self) -> list[DesktopTrigger]:
        """Each desktop that has answered, with its trigger offset now; sorted by name."""
        ...

    def answer(self, proposal_id: str, verdict: str) -> Answered:
        """Answer a proposal as its desktop's companion would. Raises `EdgeError` (unknown proposal)."""
        ...

    def relay_note(self) -> str:
        """One sentence on where answers go (to the hub over MQTT, or to the store only)."""
        ...

    def relay_health(self) -> list[Health]:
        """The broker and the hub as the dashboard's own MQTT connection sees them."""
        ...

    def health(self) -> list[Health]: ...

    def memory(self) -> Part[MemoryBackend]:
        """The memory stream, opened on first use, or None and why not."""
        ...

    def annotate(self, trace: Trace, annotator: str, folder: Path, index: int = 0) -> AnnotationSession:
        """An annotation session for ``trace``, offering the tasks the hub proposed for its events."""
        ...
