"""The screen every mode builds on: navigation bar, body, footer, reload on store change, table helpers.

A screen is handed the `Dashboard` it reads from and answers through; it never reaches into the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from edge.errors import EdgeError
from tui.messages import StoreChanged
from tui.ports import Dashboard
from tui.widgets import ErrorScreen, NavBar

T = TypeVar("T")


class BaseScreen(Screen[None]):
    MODE = ""
    TABLE = ""  # the selector of the screen's main table, focused by Escape
    BINDINGS = [Binding("escape", "focus_table", "Table", show=False)]

    def __init__(self, dashboard: Dashboard) -> None:
        super().__init__()
        self.dashboard = dashboard

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def reload(self) -> None:
        """Re-read what the screen shows from the store."""

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def on_store_changed(self, message: StoreChanged) -> None:
        self.reload()

    def show_error(self, error: EdgeError) -> None:
        self.app.push_screen(ErrorScreen(error))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape stays free (Textual clears the selection) on a screen without a main table.
        return bool(self.TABLE) if action == "focus_table" else True

    def action_focus_table(self) -> None:
        self.query_one(self.TABLE, DataTable).focus()


def add_columns(table: DataTable[Any], *columns: tuple[str, int]) -> None:
    """Add ``(label, width)`` columns, each keyed by its label."""
    for label, width in columns:
        table.add_column(label, width=width, key=label)


def fill_table(table: DataTable[Any], rows: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
    """Replace a table's rows, keeping the cursor on the same row key when it is still there."""
    keep = selected_key(table) if table.cursor_row >= 0 else None
    old_row = table.cursor_row
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if not table.row_count:
        return
    if keep is not None:
        try:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
            return
        except Exception:
            pass
    table.move_cursor(row=min(max(old_row, 0), table.row_count - 1), animate=False)


def selected_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:
        return None


def selected(table: DataTable[Any], rows: Mapping[str, T]) -> T | None:
    """The row under the table's cursor, looked up by its key in ``rows``."""
    key = selected_key(table)
    return None if key is None else rows.get(key)
