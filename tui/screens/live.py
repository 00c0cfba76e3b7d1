"""Live: proposals (what each is about, P(help)) and the observation stream as the hub stores them;
answer with a / r / i."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static

from edge.errors import EdgeError
from edge.store.proposals import ProposalFilter, ProposalRow
from tui.format import clip, fmt_anchor, fmt_score, fmt_time
from tui.messages import FeedbackSent
from tui.screens.base import BaseScreen, add_columns, fill_table, selected

# key, verdict, footer label
ANSWERS = (("a", "accepted", "Accept"), ("r", "rejected", "Reject"), ("i", "ignored", "Ignore"))
STATUS_STYLES = {"pending": "bold yellow", "accepted": "green", "rejected": "red", "ignored": "dim"}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, "dim italic"))


SAYING = 150  # characters of task and response shown: two lines at 80 columns, the third is the figures


def figures(p: ProposalRow) -> str:
    """What a proposal is about, the trigger's P(help) and the reward model's score, on one line."""
    about = "no anchor" if p.anchor is None else f"about {fmt_anchor(p.anchor)}"
    return f"{about} · P(help) {fmt_score(p.p_help)} · score {fmt_score(p.score)}"


def proposal_text(p: ProposalRow) -> Text:
    """The task in bold, then what the assistant would say; below, what it is about and its figures."""
    text = Text()
    text.append(clip(p.task, SAYING), style="bold")
    if p.response and len(p.task) + 2 < SAYING:
        text.append("  " + clip(p.response, SAYING - len(p.task) - 2))
    text.append("\n" + figures(p), style="dim")
    return text


class LiveScreen(BaseScreen):
    MODE = "live"
    BINDINGS = [Binding(key, f"answer('{verdict}')", label) for key, verdict, label in ANSWERS]

    def compose_body(self) -> ComposeResult:
        yield Static(id="live-head", classes="section")
        yield DataTable(id="proposals", cursor_type="row", zebra_stripes=True)
        yield Static(id="proposal-detail", classes="detail")
        yield Label("Observations (newest first)", id="obs-head", classes="section")
        yield DataTable(id="observations", cursor_type="row")

    def on_mount(self) -> None:
        props = self.query_one("#proposals", DataTable)
        add_columns(
            props, ("time", 11), ("desktop", 8), ("help", 4), ("status", 8), ("task", 20), ("about", 14)
        )
        add_columns(
            self.query_one("#observations", DataTable), ("time", 11), ("desktop", 10), ("observation", 49)
        )
        self.reload()
        props.focus()

    def reload(self) -> None:
        board = self.dashboard
        now = board.now()
        self._proposals = {p.id: p for p in board.proposals(ProposalFilter(limit=100))}
        pending = sum(p.shown_status(now) == "pending" for p in self._proposals.values())
        self.query_one("#live-head", Static).update(
            f"[b]Proposals[/b] ({pending} waiting)  [dim]{escape(board.relay_note())}[/dim]"
        )
        fill_table(
            self.query_one("#proposals", DataTable),
            (
                (
                    p.id,
                    (
                        fmt_time(p.created_at, now),
                        clip(p.desktop, 8),
                        fmt_score(p.p_help),
                        status_text(p.shown_status(now)),
                        clip(p.task, 20),
                        fmt_anchor(p.anchor, 14),
                    ),
                )
                for p in self._proposals.values()
            ),
        )
        fill_table(
            self.query_one("#observations", DataTable),
            (
                (o.id, (fmt_time(o.created_at, now), clip(o.desktop, 10), clip(o.text, 49)))
                for o in board.observations(limit=100)
            ),
        )
        self._show_detail()

    def _selected(self) -> ProposalRow | None:
        return selected(self.query_one("#proposals", DataTable), self._proposals)

    def _show_detail(self) -> None:
        p = self._selected()
        self.query_one("#proposal-detail", Static).update(
            "[dim]No proposals yet. They appear here as the hub makes them.[/dim]"
            if p is None
            else proposal_text(p)
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "proposals":
            self._show_detail()

    def action_answer(self, verdict: str) -> None:
        """Answer as the proposal's desktop companion would; the app toasts what became of it."""
        p = self._selected()
        if p is None:
            self.notify(
                "No proposal selected. Wait for one to arrive, or pick one with ↑/↓.", severity="warning"
            )
            return
        try:
            answered = self.dashboard.answer(p.id, verdict)
        except EdgeError as e:
            self.show_error(e)
            return
        if answered.outcome is None:
            self.notify(answered.note, severity="warning")
            return
        self.post_message(FeedbackSent(answered.outcome, answered.published, answered.note))
