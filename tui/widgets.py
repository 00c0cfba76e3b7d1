"""Small widgets shared by the screens: the navigation bar and the modals."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from edge.errors import EdgeError

SCREENS = (
    ("live", "1", "Live"),
    ("history", "2", "History"),
    ("annotate", "3", "Annotate"),
    ("memory", "4", "Memory"),
    ("stats", "5", "Stats"),
)


class NavBar(Static):
    """One line naming the screens and their keys, the current one highlighted."""

    def __init__(self, current: str) -> None:
        parts = []
        for mode, key, title in SCREENS:
            if mode == current:
                parts.append(f"[reverse b] {key} {title} [/]")
            else:
                parts.append(f" [b]{key}[/] {title} ")
        super().__init__(" ".join(parts), classes="navbar")


class ErrorScreen(ModalScreen[None]):
    """An `EdgeError` shown as a modal: title, what went wrong, what to do."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, error: EdgeError) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error"):
            yield Label(type(self.error).title, classes="dialog-title")
            yield Static(self.error.msg, markup=False)
            if self.error.hint:
                yield Static(f"What to do: {self.error.hint}", markup=False, classes="hint")
            yield Button("Close (Esc)", variant="error", id="close")

    def on_button_pressed(self) -> None:
        self.dismiss()


class AskScreen(ModalScreen[str | None]):
    """Ask for one line of text (e.g. what to forget); returns None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str, ok: str) -> None:
        super().__init__()
        self.title_text, self.placeholder, self.ok = title, placeholder, ok

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder=self.placeholder, id="answer")
            with Horizontal(classes="buttons"):
                yield Button(self.ok, variant="warning", id="ok")
                yield Button("Cancel (Esc)", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.dismiss(self.query_one(Input).value.strip() or None)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
