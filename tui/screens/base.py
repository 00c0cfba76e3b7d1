"""The screen every mode builds on: navigation bar, body, footer, reload on store change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from tui.messages import StoreChanged
from tui.widgets import NavBar

if TYPE_CHECKING:
    from tui.app import ProactiveApp


class BaseScreen(Screen[None]):
    MODE = ""

    @property
    def papp(self) -> ProactiveApp:
        return cast("ProactiveApp", self.app)

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


def fill_table(table: DataTable[Any], rows: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
    """Replace a table's rows, keeping the cursor on the same row key when it is still there."""
    keep = None
    if table.row_count and table.cursor_row >= 0:
        try:
            keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            keep = None
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
