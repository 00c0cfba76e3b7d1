"""Memory: search the memory stream, read reflections with the records they cite, forget."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Label, Static, Tree

from edge.errors import EdgeError
from tui.format import clip, fmt_score, fmt_time
from tui.ports import MemoryBackend
from tui.screens.base import BaseScreen, add_columns, fill_table
from tui.widgets import AskScreen


class MemoryScreen(BaseScreen):
    MODE = "memory"
    TABLE = "#mem-results"
    BINDINGS = [Binding("/", "focus_search", "Search"), Binding("f", "forget", "Forget")]

    def compose_body(self) -> ComposeResult:
        mem = self.dashboard.memory()
        yield Input(
            placeholder="search memory (what, when, which app…), Enter",
            compact=True,
            id="mem-search",
            disabled=not mem.available,
        )
        if not mem.available:
            yield Static(f"[b]Memory is off.[/b] {escape(mem.note)}", id="mem-absent", classes="notice")
        yield DataTable(id="mem-results", cursor_type="row", zebra_stripes=True)
        yield Label("Reflections and the records they cite", classes="section")
        tree: Tree[str] = Tree("reflections", id="mem-reflections")
        tree.show_root = False
        yield tree

    @property
    def backend(self) -> MemoryBackend | None:
        return self.dashboard.memory().value

    def on_mount(self) -> None:
        add_columns(
            self.query_one("#mem-results", DataTable),
            ("score", 5),
            ("kind", 10),
            ("when", 11),
            ("record", 44),
        )
        self.reload()
        if self.backend is not None:
            self.query_one("#mem-search", Input).focus()

    def reload(self) -> None:
        backend = self.backend
        tree = self.query_one("#mem-reflections", Tree)
        tree.clear()
        if backend is None:
            return
        now = self.dashboard.now()
        try:
            refl = backend.reflections(20)
        except EdgeError as e:
            self.show_error(e)
            return
        if not refl:
            tree.root.add_leaf("No reflections yet: they come once enough has happened.")
        for r in refl:
            node = tree.root.add(Text(f"{fmt_time(r.created_at, now)}  {r.text}"), expand=True)
            for c in r.cites:
                node.add_leaf(Text(f"[{c.kind}] {fmt_time(c.created_at, now)}  {c.text}"))

    def search(self, query: str) -> None:
        backend = self.backend
        if backend is None:
            self.notify(self.dashboard.memory().note, severity="warning")
            return
        now = self.dashboard.now()
        try:
            hits = backend.search(query, 30)
        except EdgeError as e:
            self.show_error(e)
            return
        fill_table(
            self.query_one("#mem-results", DataTable),
            (
                (
                    f"{i}:{h.id}",
                    (fmt_score(h.score), clip(h.kind, 10), fmt_time(h.created_at, now), clip(h.text, 44)),
                )
                for i, h in enumerate(hits)
            ),
        )
        if not hits:
            self.notify(f"Nothing in memory matches '{query}'. Try fewer or other words.")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.search(event.value.strip())
            self.query_one("#mem-results", DataTable).focus()

    def action_focus_search(self) -> None:
        self.query_one("#mem-search", Input).focus()

    def action_forget(self) -> None:
        if self.backend is None:
            self.notify(self.dashboard.memory().note, severity="warning")
            return

        def done(match: str | None) -> None:
            if not match or self.backend is None:
                return
            try:
                n = self.backend.forget(match)
            except EdgeError as e:
                self.show_error(e)
                return
            self.notify(f"Forgot {n} record(s) containing '{match}'.", title="Forget")
            query = self.query_one("#mem-search", Input).value.strip()
            if query:
                self.search(query)
            self.reload()

        self.app.push_screen(
            AskScreen(
                "Forget every memory record containing this text (cannot be undone):",
                "text to forget, e.g. a project or site name",
                "Forget",
            ),
            done,
        )
