"""`proactive eval ...`: ProactiveBench metrics for the reward model and the agent."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge.commands.lazy import LazyGroup


@click.group("eval", cls=LazyGroup, lazy={"reward": "edge.commands.reward:eval_reward_cmd"})
def eval_group() -> None:
    """Evaluate with the published ProactiveBench metrics."""


@eval_group.command("timing")
@click.option(
    "--traces",
    "traces_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder of traces (shared or upstream format) with per-event help_needed labels.",
)
@click.option("--real-only", is_flag=True, help="Skip simulated traces (names starting with sim_).")
@click.option("--gate/--no-gate", default=True, help="Use the reward-model gate when one is installed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def timing_cmd(ctx: click.Context, traces_dir: Path, real_only: bool, gate: bool, as_json: bool) -> None:
    """Replay each trace through the real loop and score proposals against human help_needed labels.

    Prints precision, recall, f1, accuracy, false_alarm (= FP/(TP+FP)), events, p50_latency_ms.
    """
    from rich.console import Console
    from rich.progress import Progress

    from edge.bench.timing import evaluate_timing, labelled
    from edge.config import load_settings
    from edge.llm import make_llm
    from edge.sources.trace import load_trace, trace_files

    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    files = [f for f in trace_files(traces_dir) if not (real_only and f.stem.startswith("sim_"))]
    total = sum(len(t.observations) for t in map(load_trace, files) if labelled(t))
    llm = make_llm(settings.llm)
    try:
        with Progress(console=Console(stderr=True), transient=True, disable=as_json) as bar:
            task = bar.add_task("replaying", total=total)
            result = evaluate_timing(
                files, settings, llm, use_gate=gate, on_event=lambda name: bar.advance(task)
            )
    finally:
        llm.close()
    if as_json:
        click.echo(json.dumps(result))
        return
    for key in ("precision", "recall", "f1", "accuracy", "false_alarm"):
        click.echo(f"{key:<15} {result[key]:.3f}")
    click.echo(f"{'events':<15} {result['events']}  (labelled, in {result['traces']} traces)")
    click.echo(f"{'p50_latency_ms':<15} {result['p50_latency_ms']:.1f}")
