"""Stats and health: acceptance, each desktop's trigger offset, proposals per hour, answer time,
state of each part."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Sparkline, Static

from tui.format import clip, fmt_duration, fmt_offset, fmt_time
from tui.messages import HealthChecked
from tui.ports import DesktopTrigger, Health
from tui.screens.base import BaseScreen, add_columns, fill_table

TRIGGERS_SHOWN = 4  # desktops named on the Stats screen (at most three lines at 80 columns); the rest counted


def trigger_line(triggers: list[DesktopTrigger]) -> str:
    """Each desktop's trigger offset (and extra interval, when there is one), as Rich markup."""
    if not triggers:
        return "Trigger offset: none yet [dim](answers move it: accepted +, rejected or ignored -)[/dim]"
    parts = []
    for t in triggers[:TRIGGERS_SHOWN]:
        extra = f" (+{fmt_duration(t.interval_extra_s)} interval)" if t.interval_extra_s >= 1 else ""
        parts.append(f"{escape(clip(t.desktop, 20))} {fmt_offset(t.trigger_offset)}{extra}")
    if len(triggers) > TRIGGERS_SHOWN:
        parts.append(f"{len(triggers) - TRIGGERS_SHOWN} more: proactive status")
    head = "Trigger offset per desktop [dim](logits; + speaks sooner, - later)[/dim]"
    return head + "\n" + " · ".join(parts)


class StatsScreen(BaseScreen):
    MODE = "stats"
    BINDINGS = [Binding("r", "check", "Re-check health")]

    def compose_body(self) -> ComposeResult:
        yield Static(id="stats-summary", classes="detail")
        yield Label(id="spark-label", classes="section")
        yield Sparkline([], id="per-hour")
        yield Label("Health (r to re-check)", classes="section")
        yield DataTable(id="health", cursor_type="row", show_cursor=False)
        yield Static(id="health-fix", classes="detail")

    def on_mount(self) -> None:
        add_columns(self.query_one("#health", DataTable), ("state", 5), ("part", 14), ("detail", 53))
        self._checks: list[Health] | None = None
        self.reload()
        self.action_check()

    def reload(self) -> None:
        now = self.dashboard.now()
        st = self.dashboard.stats()
        c = st.counts
        rate = "-" if st.acceptance is None else f"{st.acceptance:.0%}"
        hub = "not recorded" if st.hub_latency_p50_ms is None else fmt_duration(st.hub_latency_p50_ms / 1000)
        self.query_one("#stats-summary", Static).update(
            f"[b]Acceptance {rate}[/b] · {c.get('accepted', 0)} accepted, {c.get('rejected', 0)} "
            f"rejected, {c.get('ignored', 0)} ignored, {c.get('pending', 0)} open\n"
            f"Time to answer p50 {fmt_duration(st.answer_p50)}, p90 {fmt_duration(st.answer_p90)} · "
            f"hub decision p50: {hub}\n"
            f"{st.total} proposals, {st.observations} observations, last at "
            f"{fmt_time(st.last_observation_at, now)}\n"
            f"{trigger_line(self.dashboard.triggers())}"
        )
        self.query_one("#spark-label", Label).update(
            f"Proposals per hour, last 24 h (peak {max(st.per_hour)}, {sum(st.per_hour)} in all)"
        )
        self.query_one("#per-hour", Sparkline).data = [float(v) for v in st.per_hour]

    def action_check(self) -> None:
        self.query_one("#health-fix", Static).update(
            "[dim]Checking model, store, broker, ActivityWatch…[/dim]"
        )
        self._run_checks()

    @work(thread=True, exclusive=True, group="health")
    def _run_checks(self) -> None:
        self.post_message(HealthChecked(self.dashboard.health()))

    def on_health_checked(self, message: HealthChecked) -> None:
        # The broker and the hub as the dashboard's own MQTT connection sees them, not the doctor's probe,
        # placed after the local parts (model, reward gate, data directory) and before ActivityWatch.
        checks = [c for c in message.checks if c.name not in ("broker", "hub")]
        at = next((i + 1 for i, c in enumerate(checks) if c.name == "data directory"), len(checks))
        checks[at:at] = self.dashboard.relay_health()
        self._checks = checks
        fill_table(
            self.query_one("#health", DataTable),
            (
                (
                    f"{i}:{c.name}",
                    (
                        Text("ok", style="green") if c.ok else Text("DOWN", style="bold red"),
                        clip(c.name, 14),
                        clip(c.detail, 53),
                    ),
                )
                for i, c in enumerate(checks)
            ),
        )
        fixes = [f"[b]{escape(c.name)}[/b]: {escape(c.hint)}" for c in checks if not c.ok and c.hint]
        self.query_one("#health-fix", Static).update(
            "What to do: " + " · ".join(fixes) if fixes else "[green]Every part is up.[/green]"
        )
