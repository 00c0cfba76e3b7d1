"""The dashboard's five screens, one per mode (keys 1-5)."""

from __future__ import annotations

from tui.screens.annotate import AnnotateScreen
from tui.screens.history import HistoryScreen
from tui.screens.live import LiveScreen
from tui.screens.memory import MemoryScreen
from tui.screens.stats import StatsScreen

__all__ = ["AnnotateScreen", "HistoryScreen", "LiveScreen", "MemoryScreen", "StatsScreen"]
