"""What every command shares: the settings the user chose, flags they typed, JSON output,
progress bars on stderr, the path option types and the console view of one decision.

Used by `edge.cli` and every `edge.commands` module (and meant for ``tui/cli.py``).
Imports stay light so that ``proactive --help`` starts fast: rich is imported
inside the helpers that draw, the model and the stores inside the commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from edge.config import Settings, load_settings
from edge.records import Decision

F = TypeVar("F", bound=Callable[..., Any])

# Option types for paths that must be a file (when they exist) or a folder.
FILE = click.Path(path_type=Path, dir_okay=False)
FOLDER = click.Path(path_type=Path, file_okay=False)

Tick = Callable[[str, int, int], None]

max_events_option = click.option(
    "--max-events", type=click.IntRange(min=1), default=None, help="Stop after N events."
)


def settings_of(ctx: click.Context, overrides: dict[str, Any] | None = None) -> Settings:
    """The settings from ``proactive --config FILE`` (or the default file), the environment and
    ``overrides`` (the flags the user typed, nested)."""
    obj = ctx.find_root().obj or {}
    return load_settings(obj.get("config"), overrides)


def typed(ctx: click.Context, name: str) -> bool:
    """True when the user typed option ``name`` (a flag overrides config only then)."""
    src = ctx.get_parameter_source(name)
    return src is not None and src.name == "COMMANDLINE"


def emit(obj: Any, *, ensure_ascii: bool = False) -> None:
    """One JSON object on one line of stdout (``eval``, ``gym`` and ``reward`` escape non-ASCII)."""
    click.echo(json.dumps(obj, ensure_ascii=ensure_ascii))


def json_flag(help: str = "Print one JSON object.") -> Callable[[F], F]:
    """The ``--json`` flag (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def progress_bar(*columns: Any, enabled: bool = True) -> Any:
    """A transient rich progress bar on stderr (so stdout stays clean); ``enabled`` False hides it."""
    from rich.console import Console  # noqa: PLC0415 - rich only when a bar is drawn
    from rich.progress import Progress  # noqa: PLC0415

    return Progress(*columns, console=Console(stderr=True), transient=True, disable=not enabled)


@contextmanager
def stage_progress(enabled: bool) -> Iterator[Tick | None]:
    """One bar per stage; yields a ``tick(stage, done, total)`` callback (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import (  # noqa: PLC0415 - rich only when a bar is drawn
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with progress_bar(*columns) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield tick


def trigger_line(d: Decision) -> str:
    """P(help) against the bar, and the anchor, in a few words (empty without a trigger)."""
    parts = []
    if d.p_help is not None:
        cmp = ">=" if d.p_threshold is None or d.p_help >= d.p_threshold else "<"
        digits = 2 if d.p_threshold is None or round(d.p_help, 2) != round(d.p_threshold, 2) else 3
        bar = "" if d.p_threshold is None else f" {cmp} {d.p_threshold:.{digits}f}"
        parts.append(f"P(help)={d.p_help:.{digits}f}{bar}")
    if d.anchor is not None:
        parts.append(f"anchor: {d.anchor.kind} '{d.anchor.text}'")
    return " · ".join(parts)


def print_decision(d: Decision) -> None:
    """The event, the trigger's view, then the proposal or why the loop stayed silent."""
    from rich.console import Console  # noqa: PLC0415 - rich only when a decision is printed
    from rich.markup import escape  # noqa: PLC0415

    console = Console(highlight=False)
    score = "" if d.score is None else f" score={d.score:.2f}"
    console.print(f"[dim]{escape(d.observation.time)}[/dim] {escape(d.observation.text)}")
    seen = trigger_line(d)
    if not d.llm_called and d.reason.startswith("trigger"):  # the common case: one short line
        console.print(f"   [dim]-- silent ({escape(seen)}, {d.latency_ms:.0f} ms)[/dim]")
        return
    if seen:
        console.print(f"   [cyan]{escape(seen)}[/cyan]")
    if d.proposed:
        kind = " (template)" if d.template else ""
        console.print(
            f"   [bold green]>> proposal{kind}:[/bold green] {escape(d.task or '')}"
            f"[dim]{score} ({d.latency_ms:.0f} ms)[/dim]"
        )
        if d.response and d.response.response:
            console.print(f"      [green]{escape(d.response.response)}[/green]")
    else:
        why = d.reason or "silent"
        console.print(f"   [dim]-- silent ({escape(why)}, {d.latency_ms:.0f} ms)[/dim]")


def decision_printer(as_json: bool) -> Callable[[Decision], None]:
    """``on_decision`` for replay and run: one flushed JSON line per decision, or `print_decision`."""

    def show(d: Decision) -> None:
        if as_json:
            emit(d.to_json())
            sys.stdout.flush()
        else:
            print_decision(d)

    return show
