"""Annotate: step through a trace, judge candidate tasks, save reward-data rows, see agreement."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, Static

from edge.errors import EdgeError
from edge.sources.trace import load_trace
from tui.annotation import AnnotationSession, AnnotationSetup, agreement, others_verdicts
from tui.format import clip
from tui.ports import Dashboard
from tui.screens.base import BaseScreen, add_columns, fill_table, selected_key

SILENCE_KEY = "\x00silence"


def verdict_text(v: bool | None, silence: bool) -> Text:
    if v is None:
        return Text("-", style="dim")
    if silence:
        return Text("no help" if v else "help!", style="green" if v else "red")
    return Text("accept" if v else "reject", style="green" if v else "red")


class AnnotateScreen(BaseScreen):
    MODE = "annotate"
    TABLE = "#candidates"
    BINDINGS = [
        Binding("n", "step(1)", "Next"),
        Binding("p", "step(-1)", "Prev"),
        Binding("a", "mark(True)", "Accept"),
        Binding("r", "mark(False)", "Reject"),
        Binding("x", "no_help", "No help needed"),
        Binding("u", "clear", "Undo", show=False),
        Binding("t", "type_task", "Type task", show=False),
        Binding("o", "open", "Open", show=False),
    ]

    def __init__(self, dashboard: Dashboard, setup: AnnotationSetup) -> None:
        super().__init__(dashboard)
        self.setup = setup
        self.annotator = setup.annotator
        self.session: AnnotationSession | None = None

    def compose_body(self) -> ComposeResult:
        choices = [str(p) for p in self.setup.choices()]
        with Horizontal(classes="filters"):
            yield Input(
                placeholder="trace file (.json), Enter to open",
                suggester=SuggestFromList(choices, case_sensitive=True),
                compact=True,
                id="trace-path",
            )
            yield Input(value=self.annotator, placeholder="annotator", compact=True, id="annotator")
        yield Static(id="ann-status", classes="section")
        yield Static(id="ann-window", classes="window")
        yield DataTable(id="candidates", cursor_type="row")
        yield Input(placeholder="t: type a candidate task, Enter to add", compact=True, id="typed-task")
        yield Static(id="ann-agreement", classes="detail")

    def on_mount(self) -> None:
        t = self.query_one("#candidates", DataTable)
        add_columns(t, ("mine", 7), ("others", 7), ("from", 6), ("candidate task", 48))
        if self.setup.trace is not None and self.session is None:
            self.query_one("#trace-path", Input).value = str(self.setup.trace)
            self.open_trace(self.setup.trace)
        self.reload()
        (t if self.session else self.query_one("#trace-path", Input)).focus()

    # ------------------------------------------------------------ opening

    def open_trace(self, path: Path) -> bool:
        try:
            trace = load_trace(path)
            self.session = self.dashboard.annotate(trace, self.annotator, self.setup.folder)
        except EdgeError as e:
            self.show_error(e)
            return False
        done = self.session.labelled_events()
        self.notify(
            f"{trace.name}: {len(trace.observations)} events"
            + (f", {done} already labelled by {self.annotator}" if done else "")
            + ". n/p to step, a/r to judge, x when no help is needed.",
            title="Trace opened",
        )
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "trace-path":
            if not event.value.strip():
                self.notify(
                    "Type the path of a trace .json file (→ completes a bundled one).", severity="warning"
                )
                return
            if self.open_trace(Path(event.value.strip()).expanduser()):
                self.reload()
                self.query_one("#candidates", DataTable).focus()
        elif event.input.id == "annotator":
            self.set_annotator(event.value)
        elif event.input.id == "typed-task":
            self.add_typed(event.value)
            event.input.value = ""

    def set_annotator(self, name: str) -> None:
        name = name.strip()
        if not name:
            self.notify("An annotator needs a name; labels are saved per annotator.", severity="warning")
            return
        self.annotator = name
        if self.session is not None:
            self.session = self.dashboard.annotate(
                self.session.trace, name, self.setup.folder, index=self.session.index
            )
        self.notify(f"Labelling as {name}.")
        self.reload()
        self.query_one("#candidates", DataTable).focus()

    def add_typed(self, text: str) -> None:
        if self.session is None:
            self.notify("Open a trace first (o).", severity="warning")
            return
        cand = self.session.add_typed(text)
        if cand is None:
            return
        self.reload()
        table = self.query_one("#candidates", DataTable)
        table.move_cursor(row=table.get_row_index(cand.task or SILENCE_KEY), animate=False)
        table.focus()

    # ------------------------------------------------------------ display

    def reload(self) -> None:
        s = self.session
        status = self.query_one("#ann-status", Static)
        window = self.query_one("#ann-window", Static)
        agree = self.query_one("#ann-agreement", Static)
        table = self.query_one("#candidates", DataTable)
        if s is None:
            status.update("[b]No trace open.[/b] Type a path above and press Enter (→ completes).")
            window.update(
                "[dim]Traces: the shared format {name, events:[{time, event}]} or the upstream "
                "ProactiveBench list. Labels are saved as reward-data rows under "
                f"{escape(str(self.setup.folder))}.[/dim]"
            )
            fill_table(table, [])
            agree.update("")
            return
        obs = s.trace.observations[s.index]
        hn = {True: "yes", False: "no", None: "?"}[obs.help_needed]
        status.update(
            f"[b]{escape(s.trace.name)}[/b] event [b]{s.index + 1}[/b]/{s.size} · {escape(obs.time)} · "
            f"trace says help needed: {hn} · labelled {s.labelled_events()}"
        )
        lines = Text()
        start = max(0, s.index - 3)
        for i in range(start, s.index + 1):
            o = s.trace.observations[i]
            current = i == s.index
            lines.append("▶ " if current else "  ", style="bold")
            lines.append(clip(o.text, 200 if current else 74), style="bold" if current else "dim")
            if i < s.index:
                lines.append("\n")
        window.update(lines)
        others = others_verdicts(s.folder, s.annotator, s.index)
        rows = []
        for c in s.candidates():
            theirs = others.get(c.task, [])
            rows.append(
                (
                    c.task if c.task is not None else SILENCE_KEY,
                    (
                        verdict_text(s.verdict(c.task), c.task is None),
                        f"{sum(theirs)}/{len(theirs)}" if theirs else "-",
                        "" if c.task is None else c.origin,
                        clip(c.label, 48),
                    ),
                )
            )
        fill_table(table, rows)
        agree.update(self._agreement_text())

    def _agreement_text(self) -> str:
        s = self.session
        assert s is not None
        try:
            rep = agreement(s.folder)
        except EdgeError as e:
            return f"[red]{e.msg}[/red]"
        if len(rep.annotators) < 2:
            return (
                f"[dim]Saved to {escape(str(s.path))}. Agreement appears when another annotator "
                "labels this trace.[/dim]"
            )
        parts = []
        for pr in rep.pairs:
            if not pr.shared:
                parts.append(f"{escape(pr.a)}/{escape(pr.b)}: nothing in common yet")
                continue
            kappa = "" if pr.kappa is None else f", κ {pr.kappa:.2f}"
            parts.append(f"{escape(pr.a)}/{escape(pr.b)}: {pr.rate:.0%} of {pr.shared}{kappa}")
        return (
            f"[b]Agreement[/b] {'; '.join(parts)}. Unanimous on {rep.unanimous} of {rep.items_multi} "
            "shared items."
        )

    # ------------------------------------------------------------ actions

    def _need_session(self) -> AnnotationSession | None:
        if self.session is None:
            self.notify("Open a trace first: type its path at the top and press Enter.", severity="warning")
            self.query_one("#trace-path", Input).focus()
        return self.session

    def _selected_task(self) -> tuple[bool, str | None]:
        key = selected_key(self.query_one("#candidates", DataTable))
        if key is None:
            return False, None
        return True, (None if key == SILENCE_KEY else key)

    def _save(self) -> None:
        assert self.session is not None
        try:
            self.session.save()
        except EdgeError as e:
            self.show_error(e)
        self.reload()

    def action_step(self, step: int) -> None:
        s = self._need_session()
        if s is None:
            return
        before = s.index
        s.move(step)
        if s.index == before:
            self.notify("That was the last event." if step > 0 else "This is the first event.")
        self.reload()
        table = self.query_one("#candidates", DataTable)
        table.move_cursor(row=min(1, table.row_count - 1), animate=False)

    def action_mark(self, valid: bool) -> None:
        s = self._need_session()
        if s is None:
            return
        ok, task = self._selected_task()
        if not ok:
            return
        s.mark(task, valid)
        self._save()

    def action_no_help(self) -> None:
        s = self._need_session()
        if s is None:
            return
        s.no_help_needed()
        self._save()

    def action_clear(self) -> None:
        s = self._need_session()
        if s is None:
            return
        ok, task = self._selected_task()
        if ok:
            s.clear(task)
            self._save()

    def action_type_task(self) -> None:
        if self._need_session() is not None:
            self.query_one("#typed-task", Input).focus()

    def action_open(self) -> None:
        self.query_one("#trace-path", Input).focus()
