"""SVG snapshots of every screen at 80x24 over the fixed store (pytest-textual-snapshot).

Update after an intended change with ``pytest tests/tui --snapshot-update`` and
look at the new SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Select

from edge.sources.trace import load_trace
from tests.doubles import FakeMemory, FakePublisher
from tests.tui.conftest import NOW
from tui.annotation import AnnotationSession
from tui.app import ProactiveApp

Build = Callable[..., ProactiveApp]
SIZE = (80, 24)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tmp_path so that paths shown on screen are relative (the same on every machine)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_live(build: Build, snap_compare: Any) -> None:
    assert snap_compare(build(relay=FakePublisher()), terminal_size=SIZE, run_before=settle)


def test_live_light_theme(build: Build, snap_compare: Any) -> None:
    assert snap_compare(build(theme="light"), terminal_size=SIZE, run_before=settle)


def test_history_filtered(build: Build, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        pilot.app.screen.query_one("#f-desktop", Select).value = "office"
        await pilot.press("down")
        await settle(pilot)

    assert snap_compare(build(screen="history"), terminal_size=SIZE, run_before=run_before)


def test_annotate(build: Build, snap_compare: Any, here: Path, trace_file: Path) -> None:
    bob = AnnotationSession(load_trace(Path("traces/mini.json")), "bob", Path("annotations"))
    bob.index = 1
    bob.mark("Show how to capitalize each word of a name in Ruby", False)
    bob.save()
    app = build(trace=Path("traces/mini.json"), annotations_dir=Path("annotations"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("n", "a")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_annotate_empty(build: Build, snap_compare: Any, here: Path) -> None:
    app = build(screen="annotate", annotations_dir=Path("annotations"))
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_memory(build: Build, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press(*"pytest rent", "enter")
        await settle(pilot)

    app = build(screen="memory", memory=FakeMemory(NOW))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_memory_absent(build: Build, snap_compare: Any) -> None:
    assert snap_compare(build(screen="memory"), terminal_size=SIZE, run_before=settle)


def test_stats(build: Build, snap_compare: Any) -> None:
    app = build(screen="stats", relay=FakePublisher(hub_online=False))
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)
