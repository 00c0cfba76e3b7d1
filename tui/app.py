"""The dashboard app and its one factory, `make_app`, used by ``proactive tui`` and by the tests."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from edge.clock import Clock, SystemClock
from edge.config import Settings, data_dir, load_settings
from edge.errors import EdgeError
from edge.feedback import FeedbackManager
from edge.store import Store
from tui.annotation import AnnotationSetup, default_annotator, export_rows
from tui.dashboard import StoreDashboard
from tui.format import clip
from tui.health import doctor_health
from tui.memory import MEMORY_ABSENT, open_stream_memory
from tui.messages import FeedbackSent, StoreChanged
from tui.ports import FeedbackPublisher, HealthFn, MemoryBackend, Part
from tui.relay import load_relay
from tui.screens import AnnotateScreen, HistoryScreen, LiveScreen, MemoryScreen, StatsScreen
from tui.widgets import SCREENS, ErrorScreen

AUTO: Any = "auto"
THEMES = {"dark": "textual-dark", "light": "textual-light"}
MODES = tuple(mode for mode, _, _ in SCREENS)


class ProactiveApp(App[None]):
    """Five screens (modes) over one `StoreDashboard`, each handed the dashboard; see `make_app`."""

    TITLE = "proactive-edge"
    CSS_PATH = "app.tcss"
    DEFAULT_MODE = "live"
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", title, show=False) for mode, key, title in SCREENS),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        dashboard: StoreDashboard,
        annotation: AnnotationSetup,
        *,
        theme: str = "dark",
        poll_interval: float | None = 1.0,
        screen: str = "live",
    ) -> None:
        super().__init__()
        self.dashboard = dashboard
        self.annotation = annotation
        self.poll_interval = poll_interval
        self.start_screen = screen
        self.theme = THEMES.get(theme, theme)
        for cls in (LiveScreen, HistoryScreen, MemoryScreen, StatsScreen):
            self.add_mode(cls.MODE, partial(cls, dashboard))
        self.add_mode(AnnotateScreen.MODE, partial(AnnotateScreen, dashboard, annotation))

    def on_mount(self) -> None:
        if self.start_screen != self.DEFAULT_MODE:
            self.switch_mode(self.start_screen)
        if self.poll_interval:
            self.set_interval(self.poll_interval, self.poll_store)
        if self.dashboard.start():
            self.set_interval(0.25, self.pump_relay)

    def pump_relay(self) -> None:
        """Run the relay's events (UI thread); refresh the screen when the hub comes or goes."""
        changed, error = self.dashboard.pump()
        if error is not None:
            self.notify(f"{error.msg} {error.hint}", title="MQTT relay", severity="warning")
        if changed:
            self.screen.post_message(StoreChanged(self.dashboard.version))

    # ------------------------------------------------------------ store polling

    def poll_store(self) -> bool:
        """Tell the current screen when the hub has committed; toast new proposals. Returns changed."""
        fresh = self.dashboard.poll()
        if fresh is None:
            return False
        for p in reversed(fresh[:3]):
            self.notify(
                f"{clip(p.task, 70)}\nPress 1 for Live, then a accept, r reject, i ignore.",
                title=f"New proposal for {p.desktop}",
                timeout=8,
            )
        self.screen.post_message(StoreChanged(self.dashboard.version))
        return True

    # ------------------------------------------------------------ feedback

    def on_feedback_sent(self, message: FeedbackSent) -> None:
        o = message.outcome
        word = o.verdict.capitalize()
        if message.published:
            self.notify(f"{word}: sent to the hub for {o.desktop}. {message.note}", title="Feedback")
        else:
            self.notify(f"{word}: {message.note}", title="Feedback")
        self.screen.post_message(StoreChanged(self.dashboard.version))

    # ------------------------------------------------------------ errors, themes, commands

    def show_error(self, error: EdgeError) -> None:
        self.push_screen(ErrorScreen(error))

    def action_toggle_theme(self) -> None:
        self.theme = THEMES["light"] if self.current_theme.dark else THEMES["dark"]

    def action_export_annotations(self) -> None:
        try:
            path, n = export_rows(self.annotation.folder)
        except EdgeError as e:
            self.show_error(e)
            return
        self.notify(
            f"{n} rows in {path}. Train with: proactive reward train --data {path}",
            title="Annotations exported",
            timeout=10,
        )

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
            f"Merge every annotator's labels into one reward-data file under {self.annotation.folder}",
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

    The one composition root of the dashboard. ``relay`` and ``memory`` default
    to the MQTT relay (`tui.relay`) and the memory stream (`tui.memory`, opened
    on first use); pass an object to inject one or None to run without.
    ``health`` returns the health checks (default: `edge.doctor`'s); it runs in
    a worker thread. Raises `StoreError`, `ConfigError` or `EdgeError` (unknown screen).
    """
    if screen not in MODES:
        raise EdgeError(f"Unknown screen {screen!r}.", f"Use one of {', '.join(MODES)}.")
    settings = settings or load_settings()
    st = store if isinstance(store, Store) else Store.open(store)
    clock = clock or SystemClock()
    if relay is AUTO:
        relay_part = load_relay(settings, st, clock)
    else:
        relay_part = Part(
            relay, "" if relay is not None else "No MQTT relay: answers are saved in the store only."
        )
    if memory is AUTO:
        open_memory = partial(open_stream_memory, settings, st, clock)
    else:
        open_memory = partial(Part, memory, "" if memory is not None else MEMORY_ABSENT)
    dashboard = StoreDashboard(
        st,
        clock=clock,
        relay=relay_part,
        memory=open_memory,
        health=health or partial(doctor_health, settings, st.path),  # the dashboard's own store file
        broker=f"{settings.relay.host}:{settings.relay.port}",
        feedback=FeedbackManager(st, clock, settings.feedback),
    )
    annotation = AnnotationSetup(
        annotator or default_annotator(),
        annotations_dir or data_dir() / "annotations",
        tuple(trace_dirs) if trace_dirs is not None else (bundled_traces(), data_dir() / "traces"),
        trace,
    )
    return ProactiveApp(
        dashboard,
        annotation,
        theme=theme,
        poll_interval=poll_interval,
        screen="annotate" if trace is not None and screen == "live" else screen,
    )
