"""`StoreDashboard`: the dashboard's services over one store file, handed to every screen.

It reads the rows the screens show (`Store.proposal_rows`, `Store.stats`, ...), answers proposals
(over the relay while the hub is online, else into the store), and holds the
optional parts (relay, memory). For the app it also watches the store for the
hub's commits and runs the relay. UI thread only (one store connection),
except `health`, which blocks and runs in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge.clock import Clock
from edge.errors import EdgeError
from edge.feedback import FeedbackManager
from edge.sources.trace import Trace
from edge.store import Store
from edge.store.observations import ObservationRow
from edge.store.proposals import ProposalFilter, ProposalRow, Stats
from tui.annotation import AnnotationSession
from tui.feedback import record_feedback
from tui.ports import (
    Answered,
    DesktopTrigger,
    FeedbackOutcome,
    FeedbackPublisher,
    Health,
    HealthFn,
    MemoryBackend,
    Part,
)
from tui.relay import relay_health, relay_note, store_only

PENDING = ProposalFilter(status="pending", limit=500)  # the proposals new ones are told apart from


class StoreDashboard:
    """The one `tui.ports.Dashboard`: built by `tui.app.make_app` from the parts it is given.

    ``memory`` opens the memory stream; it is called on first use (loading the
    encoder takes a moment). ``broker`` is the ``host:port`` the relay dials.
    ``feedback`` is the feedback room, read only (the desktops' trigger offsets).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        relay: Part[FeedbackPublisher],
        memory: Callable[[], Part[MemoryBackend]],
        health: HealthFn,
        broker: str,
        feedback: FeedbackManager,
    ) -> None:
        self.store = store
        self.feedback = feedback
        self.clock = clock
        self._relay = relay
        self._open_memory = memory
        self._memory: Part[MemoryBackend] | None = None
        self._health = health
        self.broker = broker
        self._sent: dict[str, str] = {}  # proposal id -> verdict published, not yet recorded by the hub
        self._hub_online: bool | None = None
        self.version = store.data_version()
        self._pending = {p.id for p in store.proposal_rows(PENDING)}

    # ------------------------------------------------------------ reads

    def now(self) -> float:
        return self.clock.now()

    def proposals(self, which: ProposalFilter) -> list[ProposalRow]:
        return self.store.proposal_rows(which)

    def observations(self, limit: int = 100) -> list[ObservationRow]:
        return self.store.observation_rows(limit)

    def desktops(self) -> list[str]:
        return self.store.desktops()

    def stats(self) -> Stats:
        return self.store.stats(self.now())

    def triggers(self) -> list[DesktopTrigger]:
        desktops = self.feedback.status()["desktops"]
        return [
            DesktopTrigger(name, st["trigger_offset"], st["interval_extra_s"], st["updated_at"])
            for name, st in sorted(desktops.items())
        ]

    def health(self) -> list[Health]:
        return self._health()

    def annotate(self, trace: Trace, annotator: str, folder: Path, index: int = 0) -> AnnotationSession:
        return AnnotationSession(trace, annotator, folder, store=self.store, clock=self.clock, index=index)

    # ------------------------------------------------------------ answers

    def answer(self, proposal_id: str, verdict: str) -> Answered:
        """Answer a proposal as its desktop's companion would.

        Hub online on the broker: publish on ``proactive/v1/<desktop>/feedback``
        and let the hub record it (it adapts and carries out accepted tasks only
        for answers it records itself). Otherwise write the answer to the store.
        Raises `EdgeError` for an unknown proposal or a failed write.
        """
        prop = self.store.get_proposal(proposal_id)
        if prop is None:
            raise EdgeError(f"Unknown proposal {proposal_id!r}.", "It may have been forgotten.")
        if prop["status"] != "pending":
            return Answered(
                None, None, f"Already answered ({prop['status']}). Pick a pending proposal with ↑/↓."
            )
        if proposal_id in self._sent:
            return Answered(
                None, None, f"Already sent ({self._sent[proposal_id]}); the hub has not recorded it yet."
            )
        publisher = self._relay.value
        if publisher is not None and publisher.hub_online:
            fid = publisher.publish_feedback(
                desktop=prop["desktop"], proposal_id=proposal_id, verdict=verdict, now=self.now()
            )
            self._sent[proposal_id] = verdict
            outcome = FeedbackOutcome(proposal_id, fid, verdict, prop["desktop"], stored=False)
            answered = Answered(outcome, True, "The hub records it and adapts.")
        else:
            outcome = record_feedback(self.store, proposal_id, verdict, self.now())
            answered = Answered(outcome, None if publisher is None else False, self.relay_note())
        self._pending.discard(proposal_id)
        return answered

    # ------------------------------------------------------------ optional parts

    def relay_note(self) -> str:
        return relay_note(self._relay)

    def relay_health(self) -> list[Health]:
        return relay_health(self._relay, self.broker)

    def memory(self) -> Part[MemoryBackend]:
        if self._memory is None:
            self._memory = self._open_memory()
        return self._memory

    # ------------------------------------------------------------ for the app

    def start(self) -> bool:
        """Start the relay; False when there is none to pump (or it cannot start: its note says why)."""
        publisher = self._relay.value
        if publisher is None:
            return False
        try:
            publisher.start()
        except EdgeError as e:
            self._relay = Part(None, store_only(e))
            return False
        return True

    def pump(self) -> tuple[bool, EdgeError | None]:
        """Run the relay's events: whether the hub came or went since the last pump, and a relay error."""
        publisher = self._relay.value
        if publisher is None:
            return False, None
        error = None
        try:
            publisher.pump()
        except EdgeError as e:
            error = e
        online = publisher.hub_online
        changed, self._hub_online = online != self._hub_online, online
        return changed, error

    def poll(self) -> list[ProposalRow] | None:
        """None when the store is as last seen; else the pending proposals that are new, newest first."""
        version = self.store.data_version()
        if version == self.version:
            return None
        self.version = version
        pending = self.store.proposal_rows(PENDING)
        fresh = [p for p in pending if p.id not in self._pending]
        self._pending = {p.id for p in pending}
        return fresh

    def close_parts(self) -> None:
        """Close the relay (publishing our offline status) and the memory stream. Idempotent."""
        publisher, self._relay = self._relay.value, Part(None, "Closed.")
        if publisher is not None:
            publisher.close()
        if self._memory is not None and self._memory.value is not None:
            self._memory.value.close()
            self._memory = Part(None, "Closed.")

    def close(self) -> None:
        """Close the parts, then the store."""
        self.close_parts()
        self.store.close()
