"""History: past proposals with P(help), verdict and anchor (score and result below the table);
filter by desktop, verdict and date."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from edge.errors import EdgeError
from edge.store.proposals import STATUSES, ProposalFilter, ProposalRow
from tui.format import clip, fmt_anchor, fmt_day, fmt_duration, fmt_score, parse_dates
from tui.screens.base import BaseScreen, add_columns, fill_table, selected
from tui.screens.live import status_text


def history_text(p: ProposalRow) -> Text:
    """The task, its verdict and answer time, P(help), score, desktop, what it is about, the observation
    it followed, its result."""
    t = Text()
    t.append(p.task, style="bold")
    t.append(f"\n{p.status}")
    if p.answered_at is not None:
        t.append(f" after {fmt_duration(p.answered_at - p.created_at)}")
    t.append(f" · P(help) {fmt_score(p.p_help)} · score {fmt_score(p.score)} · {p.desktop}")
    t.append(f"\nabout: {fmt_anchor(p.anchor) if p.anchor else 'no anchor'}")
    if p.observation:
        t.append(f"\nafter: {' '.join(p.observation.split())}", style="dim")
    t.append("\nresult: ", style="bold")
    t.append(p.result or "none recorded")
    return t


class HistoryScreen(BaseScreen):
    MODE = "history"
    TABLE = "#history"
    BINDINGS = [Binding("f", "focus_filters", "Filter"), Binding("c", "clear_filters", "Clear filters")]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="history-filters", classes="filters"):
            yield Select[str]([], prompt="all desktops", compact=True, id="f-desktop")
            yield Select[str]([(s, s) for s in STATUSES], prompt="any verdict", compact=True, id="f-verdict")
            yield Input(placeholder="date: 2024-06-03 or a..b", compact=True, id="f-date")
        yield Static(id="history-count", classes="section")
        yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Static(id="history-detail", classes="detail tall")

    def on_mount(self) -> None:
        t = self.query_one("#history", DataTable)
        add_columns(t, ("when", 11), ("desktop", 8), ("help", 4), ("verdict", 8), ("task", 20), ("about", 14))
        self._range: tuple[float | None, float | None] = (None, None)
        self.reload()
        t.focus()

    def _value(self, widget_id: str) -> str | None:
        v = self.query_one(widget_id, Select).value
        return v if isinstance(v, str) else None

    def reload(self) -> None:
        board = self.dashboard
        now = board.now()
        sel = self.query_one("#f-desktop", Select)
        names = board.desktops()
        current = self._value("#f-desktop")
        if getattr(self, "_desktops", None) != names:
            self._desktops = names
            with sel.prevent(Select.Changed):
                sel.set_options([(d, d) for d in names])
                if current in names:
                    sel.value = current
        start, end = getattr(self, "_range", (None, None))
        which = ProposalFilter(self._value("#f-desktop"), self._value("#f-verdict"), start, end, limit=500)
        rows = board.proposals(which)
        self._rows = {p.id: p for p in rows}
        fill_table(
            self.query_one("#history", DataTable),
            (
                (
                    p.id,
                    (
                        fmt_day(p.created_at),
                        clip(p.desktop, 8),
                        fmt_score(p.p_help),
                        status_text(p.shown_status(now)),
                        clip(p.task, 20),
                        fmt_anchor(p.anchor, 14),
                    ),
                )
                for p in rows
            ),
        )
        answered = sum(p.status != "pending" for p in rows)
        accepted = sum(p.status == "accepted" for p in rows)
        rate = f", {accepted / answered:.0%} accepted" if answered else ""
        active = [v for v in (self._value("#f-desktop"), self._value("#f-verdict")) if v]
        if start is not None or end is not None:
            active.append(self.query_one("#f-date", Input).value.strip())
        where = f"  [dim]filtered by {escape(' · '.join(active))}[/dim]" if active else ""
        self.query_one("#history-count", Static).update(f"[b]{len(rows)}[/b] proposals{rate}{where}")
        self._show_detail()

    def _show_detail(self) -> None:
        p = selected(self.query_one("#history", DataTable), self._rows)
        self.query_one("#history-detail", Static).update(
            "[dim]No proposals match. Press c to clear the filters.[/dim]" if p is None else history_text(p)
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "f-date":
            return
        try:
            self._range = parse_dates(event.value)
        except EdgeError as e:
            event.input.add_class("-invalid")
            self.notify(f"{e.msg} {e.hint}", title="Date filter", severity="warning")
            return
        event.input.remove_class("-invalid")
        self.reload()
        self.query_one("#history", DataTable).focus()

    def action_focus_filters(self) -> None:
        self.query_one("#f-desktop", Select).focus()

    def action_clear_filters(self) -> None:
        for sid in ("#f-desktop", "#f-verdict"):
            sel = self.query_one(sid, Select)
            with sel.prevent(Select.Changed):
                sel.clear()
        self.query_one("#f-date", Input).value = ""
        self._range = (None, None)
        self.reload()
