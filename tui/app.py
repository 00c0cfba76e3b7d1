"""The dashboard app and its one factory, `make_app`, used by ``proactive tui`` and by the tests."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from edge.clock import Clock, SystemClock
from edge.config import Settings, data_dir, load_settings
from edge.errors import EdgeError
from edge.store import Store
from tui.annotation import default_annotator, export_rows, trace_choices
from tui.messages import FeedbackSent, StoreChanged
from tui.screens import AnnotateScreen, HistoryScreen, LiveScreen, MemoryScreen, StatsScreen
from tui.services import (
    MEMORY_ABSENT,
    FeedbackOutcome,
    FeedbackPublisher,
    Health,
    HealthFn,
    MemoryBackend,
    Optional_,
    clip,
    data_version,
    doctor_health,
    load_relay,
    open_stream_memory,
    query_proposals,
    record_feedback,
)
from tui.widgets import SCREENS, ErrorScreen

AUTO: Any = "auto"
THEMES = {"dark": "textual-dark", "light": "textual-light"}


class ProactiveApp(App[None]):
    """Five screens (modes) over one store; see `make_app` for the parts it is given."""

    TITLE = "proactive-edge"
    CSS_PATH = "app.tcss"
    MODES = {
        "live": LiveScreen,
        "history": HistoryScreen,
        "annotate": AnnotateScreen,
        "memory": MemoryScreen,
        "stats": StatsScreen,
    }
    DEFAULT_MODE = "live"
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", title, show=False) for mode, key, title in SCREENS),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        store: Store,
        *,
        settings: Settings,
        clock: Clock,
        relay: Optional_,
        memory: Optional_ | None,
        health: HealthFn,
        annotator: str,
        annotations_dir: Path,
        trace_dirs: Iterable[Path] = (),
        trace: Path | None = None,
        theme: str = "dark",
        poll_interval: float | None = 1.0,
        screen: str = "live",
    ) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.clock = clock
        self.relay = relay
        self._memory = memory  # None: load the memory stream on first use
        self._sent: dict[str, str] = {}
        self._hub_online: bool | None = None
        self.health = health
        self.annotator = annotator
        self.annotations_dir = annotations_dir
        self.trace_dirs = list(trace_dirs)
        self.initial_trace = trace
        self.poll_interval = poll_interval
        self.start_screen = "annotate" if trace is not None and screen == "live" else screen
        self.theme = THEMES.get(theme, theme)
        self._version = data_version(store)
        self._pending = {p.id for p in query_proposals(store, status="pending", limit=500)}

    def on_mount(self) -> None:
        if self.start_screen != self.DEFAULT_MODE:
            self.switch_mode(self.start_screen)
        if self.poll_interval:
            self.set_interval(self.poll_interval, self.poll_store)
        publisher: FeedbackPublisher | None = self.relay.value
        if publisher is not None:
            try:
                publisher.start()
            except EdgeError as e:
                self.relay = Optional_(None, f"{e.msg} Answers are saved in the store only. {e.hint}")
                return
            self.set_interval(0.25, self.pump_relay)

    def close_parts(self) -> None:
        """Close the relay (publishing our offline status) and the memory stream. Idempotent."""
        publisher, self.relay = self.relay.value, Optional_(None, "Closed.")
        if publisher is not None:
            publisher.close()
        if self._memory is not None and self._memory.value is not None:
            self._memory.value.close()
            self._memory = Optional_(None, "Closed.")

    # ------------------------------------------------------------ optional parts

    @property
    def memory(self) -> Optional_:
        """The memory stream, opened on first use (it shares the store's connection: UI thread)."""
        if self._memory is None:
            self._memory = open_stream_memory(self.settings, self.store, self.clock)
        return self._memory

    @property
    def relay_note(self) -> str:
        publisher: FeedbackPublisher | None = self.relay.value
        return self.relay.note if publisher is None else publisher.describe()

    def relay_health(self) -> list[Health]:
        """The broker and the hub as the dashboard's own MQTT connection sees them."""
        publisher: FeedbackPublisher | None = self.relay.value
        where = f"{self.settings.relay.host}:{self.settings.relay.port}"
        if publisher is None:
            return [Health("broker", False, self.relay.note, "Answer proposals here meanwhile.")]
        start = "Start the hub (`proactive run` starts the embedded broker) or mosquitto"
        if not publisher.connected:
            return [Health("broker", False, f"{where} not reachable", f"{start}; check relay.host/port.")]
        hub = (
            Health("hub", True, "online on the broker")
            if publisher.hub_online
            else Health("hub", False, "not online on the broker", "Start it: `proactive run`.")
        )
        return [Health("broker", True, f"{where} connected"), hub]

    def pump_relay(self) -> None:
        """Run the relay's events (UI thread); refresh the screen when the hub comes or goes."""
        publisher: FeedbackPublisher | None = self.relay.value
        if publisher is None:
            return
        try:
            publisher.pump()
        except EdgeError as e:
            self.notify(f"{e.msg} {e.hint}", title="MQTT relay", severity="warning")
        online = publisher.hub_online
        if online != self._hub_online:
            self._hub_online = online
            self.screen.post_message(StoreChanged(self._version))

    # ------------------------------------------------------------ store polling

    def poll_store(self) -> bool:
        """Tell the current screen when the hub has committed; toast new proposals. Returns changed."""
        version = data_version(self.store)
        if version == self._version:
            return False
        self._version = version
        self._announce_new_proposals()
        self.screen.post_message(StoreChanged(version))
        return True

    def _announce_new_proposals(self) -> None:
        pending = query_proposals(self.store, status="pending", limit=500)
        fresh = [p for p in pending if p.id not in self._pending]
        self._pending = {p.id for p in pending}
        for p in reversed(fresh[:3]):
            self.notify(
                f"{clip(p.task, 70)}\nPress 1 for Live, then a accept, r reject, i ignore.",
                title=f"New proposal for {p.desktop}",
                timeout=8,
            )

    # ------------------------------------------------------------ feedback

    def send_feedback(self, proposal_id: str, verdict: str) -> None:
        """Answer a proposal as its desktop's companion would.

        Hub online on the broker: publish on ``proactive/v1/<desktop>/feedback``
        and let the hub record it (it adapts and carries out accepted tasks only
        for answers it records itself). Otherwise write the answer to the store.
        """
        prop = self.store.get_proposal(proposal_id)
        if prop is None:
            self.show_error(EdgeError(f"Unknown proposal {proposal_id!r}.", "It may have been forgotten."))
            return
        if prop["status"] != "pending":
            self.notify(
                f"Already answered ({prop['status']}). Pick a pending proposal with ↑/↓.", severity="warning"
            )
            return
        if proposal_id in self._sent:
            self.notify(
                f"Already sent ({self._sent[proposal_id]}); the hub has not recorded it yet.",
                severity="warning",
            )
            return
        publisher: FeedbackPublisher | None = self.relay.value
        if publisher is not None and publisher.hub_online:
            fid = publisher.publish_feedback(
                desktop=prop["desktop"], proposal_id=proposal_id, verdict=verdict, now=self.clock.now()
            )
            self._sent[proposal_id] = verdict
            outcome = FeedbackOutcome(proposal_id, fid, verdict, prop["desktop"], stored=False)
            self.post_message(FeedbackSent(outcome, True, "The hub records it and adapts."))
            return
        try:
            outcome = record_feedback(self.store, proposal_id, verdict, self.clock.now())
        except EdgeError as e:
            self.show_error(e)
            return
        self.post_message(FeedbackSent(outcome, None if publisher is None else False, self.relay_note))

    def on_feedback_sent(self, message: FeedbackSent) -> None:
        o = message.outcome
        word = o.verdict.capitalize()
        if message.published:
            self.notify(f"{word}: sent to the hub for {o.desktop}. {message.note}", title="Feedback")
        else:
            self.notify(f"{word}: {message.note}", title="Feedback")
        self._pending.discard(o.proposal_id)
        self.screen.post_message(StoreChanged(self._version))

    # ------------------------------------------------------------ errors, themes, commands

    def show_error(self, error: EdgeError) -> None:
        self.push_screen(ErrorScreen(error))

    def action_toggle_theme(self) -> None:
        self.theme = THEMES["light"] if self.current_theme.dark else THEMES["dark"]

    def action_export_annotations(self) -> None:
        try:
            path, n = export_rows(self.annotations_dir)
        except EdgeError as e:
            self.show_error(e)
            return
        self.notify(
            f"{n} rows in {path}. Train with: proactive reward train --data {path}",
            title="Annotations exported",
            timeout=10,
        )

    def trace_choices(self) -> list[Path]:
        return trace_choices(self.trace_dirs)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for mode, key, title in SCREENS:
            yield SystemCommand(
                f"Go to {title}",
                f"Switch to the {title} screen (key {key})",
                lambda m=mode: self.switch_mode(m),
            )
        yield SystemCommand(
            "Toggle light/dark theme", "Switch between the light and dark theme", self.action_toggle_theme
        )
        yield SystemCommand(
            "Export annotations",
            f"Merge every annotator's labels into one reward-data file under {self.annotations_dir}",
            self.action_export_annotations,
        )
        yield from super().get_system_commands(screen)


def bundled_traces() -> Path:
    return Path(str(resources.files("edge") / "data" / "proactivebench" / "traces"))


def make_app(
    store: Path | Store,
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    relay: FeedbackPublisher | None | Any = AUTO,
    memory: MemoryBackend | None | Any = AUTO,
    health: HealthFn | None = None,
    annotator: str | None = None,
    annotations_dir: Path | None = None,
    trace_dirs: Iterable[Path] | None = None,
    trace: Path | None = None,
    theme: str = "dark",
    poll_interval: float | None = 1.0,
    screen: str = "live",
) -> ProactiveApp:
    """Build the dashboard over ``store`` (a path opened in WAL mode, or an open `Store`).

    ``relay`` and ``memory`` default to what ``edge.relay`` and ``edge.memory``
    provide when installed; pass an object to inject one or None to run without.
    ``health`` returns the health checks (default: `edge.doctor` plus presence of
    broker and reward model); it runs in a worker thread. Raises `StoreError`
    or `ConfigError`.
    """
    settings = settings or load_settings()
    st = store if isinstance(store, Store) else Store.open(store)
    clock = clock or SystemClock()
    if relay is AUTO:
        relay_part = load_relay(settings, st, clock)
    elif relay is None:
        relay_part = Optional_(None, "No MQTT relay: answers are saved in the store only.")
    else:
        relay_part = Optional_(relay, "")
    if memory is AUTO:
        memory_part = None
    elif memory is None:
        memory_part = Optional_(None, MEMORY_ABSENT)
    else:
        memory_part = Optional_(memory, "")
    if screen not in ProactiveApp.MODES:
        raise EdgeError(f"Unknown screen {screen!r}.", f"Use one of {', '.join(ProactiveApp.MODES)}.")
    return ProactiveApp(
        st,
        settings=settings,
        clock=clock,
        relay=relay_part,
        memory=memory_part,
        health=health or (lambda: doctor_health(settings)),
        annotator=annotator or default_annotator(),
        annotations_dir=annotations_dir or data_dir() / "annotations",
        trace_dirs=list(trace_dirs) if trace_dirs is not None else [bundled_traces(), data_dir() / "traces"],
        trace=trace,
        theme=theme,
        poll_interval=poll_interval,
        screen=screen,
    )
