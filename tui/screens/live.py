"""Live: proposals and the observation stream as the hub stores them; answer with a / r / i."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static

from tui.screens.base import BaseScreen, fill_table, selected_key
from tui.services import clip, fmt_score, fmt_time, query_proposals, recent_observations


def status_text(status: str) -> Text:
    style = {"pending": "bold yellow", "accepted": "green", "rejected": "red", "ignored": "dim"}.get(
        status, "dim italic"
    )
    return Text(status, style=style)


class LiveScreen(BaseScreen):
    MODE = "live"
    BINDINGS = [
        Binding("a", "answer('accepted')", "Accept"),
        Binding("r", "answer('rejected')", "Reject"),
        Binding("i", "answer('ignored')", "Ignore"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(id="live-head", classes="section")
        yield DataTable(id="proposals", cursor_type="row", zebra_stripes=True)
        yield Static(id="proposal-detail", classes="detail")
        yield Label("Observations (newest first)", id="obs-head", classes="section")
        yield DataTable(id="observations", cursor_type="row")

    def on_mount(self) -> None:
        props = self.query_one("#proposals", DataTable)
        props.add_column("time", width=11, key="time")
        props.add_column("desktop", width=10, key="desktop")
        props.add_column("score", width=5, key="score")
        props.add_column("status", width=8, key="status")
        props.add_column("task", width=30, key="task")
        obs = self.query_one("#observations", DataTable)
        obs.add_column("time", width=11)
        obs.add_column("desktop", width=10)
        obs.add_column("observation", width=49)
        self.reload()
        props.focus()

    def reload(self) -> None:
        app = self.papp
        now = app.clock.now()
        self._proposals = {p.id: p for p in query_proposals(app.store, limit=100)}
        pending = sum(p.shown_status(now) == "pending" for p in self._proposals.values())
        self.query_one("#live-head", Static).update(
            f"[b]Proposals[/b] ({pending} waiting)  [dim]{escape(app.relay_note)}[/dim]"
        )
        fill_table(
            self.query_one("#proposals", DataTable),
            (
                (
                    p.id,
                    (
                        fmt_time(p.created_at, now),
                        clip(p.desktop, 10),
                        fmt_score(p.score),
                        status_text(p.shown_status(now)),
                        clip(p.task, 30),
                    ),
                )
                for p in self._proposals.values()
            ),
        )
        fill_table(
            self.query_one("#observations", DataTable),
            (
                (o.id, (fmt_time(o.created_at, now), clip(o.desktop, 10), clip(o.text, 49)))
                for o in recent_observations(app.store, limit=100)
            ),
        )
        self._show_detail()

    def _selected(self) -> Any:
        key = selected_key(self.query_one("#proposals", DataTable))
        return None if key is None else self._proposals.get(key)

    def _show_detail(self) -> None:
        p = self._selected()
        detail = self.query_one("#proposal-detail", Static)
        if p is None:
            detail.update("[dim]No proposals yet. They appear here as the hub makes them.[/dim]")
            return
        text = Text()
        text.append(p.task, style="bold")
        if p.response:
            text.append("  " + " ".join(p.response.split()))
        detail.update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "proposals":
            self._show_detail()

    def action_answer(self, verdict: str) -> None:
        p = self._selected()
        if p is None:
            self.notify(
                "No proposal selected. Wait for one to arrive, or pick one with ↑/↓.", severity="warning"
            )
            return
        self.papp.send_feedback(p.id, verdict)
