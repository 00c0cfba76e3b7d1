"""`proactive replay` and `proactive demo`: one trace through the whole loop (`edge.bench.replay`).

Registered lazily in `edge.cli.LAZY_COMMANDS`; the hub and the model are
imported inside the commands, after the trace was validated.
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

import click

from edge.commands.common import (
    FILE,
    decision_printer,
    json_flag,
    max_events_option,
    print_decision,
    settings_of,
)
from edge.config import store_path
from edge.sources.trace import load_trace


def sample_trace_path() -> Path:
    """The trace `proactive demo` replays (a real coding session from ProactiveBench)."""
    return Path(str(resources.files("edge") / "data" / "proactivebench" / "traces" / "code_11.json"))


@click.command("replay")
@click.argument("trace", type=FILE)
@json_flag("One JSON line per event.")
@click.option("--store/--no-store", default=True, help="Keep observations and proposals in the data store.")
@click.option("--gate/--no-gate", default=True, help="Use the reward-model gate when one is installed.")
@max_events_option
@click.pass_context
def replay_cmd(
    ctx: click.Context, trace: Path, as_json: bool, store: bool, gate: bool, max_events: int | None
) -> None:
    """Run the whole loop over one TRACE file (shared or upstream ProactiveBench format).

    With --json prints one line per event: time, event, proposed, task, score, latency_ms.
    """
    from edge.bench.replay import replay

    settings = settings_of(ctx)
    loaded = load_trace(trace)  # validate before loading any model
    with tempfile.TemporaryDirectory() as tmp:
        db = store_path() if store else Path(tmp) / "replay.db"
        replay(
            settings, loaded, db, use_gate=gate, max_events=max_events, on_decision=decision_printer(as_json)
        )


@click.command("demo")
@click.option(
    "--trace", type=FILE, default=None, help="Trace to replay (default: a bundled real coding session)."
)
@max_events_option
@click.pass_context
def demo_cmd(ctx: click.Context, trace: Path | None, max_events: int | None) -> None:
    """Replay a bundled sample trace through the whole loop on the embedded defaults.

    Uses a temporary data store, so your own data is untouched.
    """
    from rich.console import Console

    from edge.bench.replay import replay

    settings = settings_of(ctx)
    path = trace or sample_trace_path()
    console = Console(highlight=False)
    console.print(
        f"[bold]proactive-edge demo[/bold]: replaying {path.name} with model "
        f"{settings.llm.model_path or 'SmolLM2-135M-Instruct Q4_1 (embedded)'}"
    )
    loaded = load_trace(path)
    with tempfile.TemporaryDirectory() as tmp:
        decisions = replay(
            settings, loaded, Path(tmp) / "demo.db", max_events=max_events, on_decision=print_decision
        )
    n_prop = sum(d.proposed for d in decisions)
    llm_calls = sum(d.llm_called for d in decisions)
    console.print(f"\n[bold]{len(decisions)} events, {n_prop} proposals, {llm_calls} LLM calls.[/bold]")
