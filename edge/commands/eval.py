"""`proactive eval ...`: ProactiveBench metrics for the reward model and the agent.

The model, the reward gate and the hub are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edge.bench.timing import labelled_traces, timing_metrics
from edge.commands.common import FILE, FOLDER, emit, json_flag, progress_bar, settings_of
from edge.commands.lazy import LazyGroup
from edge.errors import SourceError
from edge.sources.trace import load_trace, trace_files


@click.group("eval", cls=LazyGroup, lazy={"reward": "edge.commands.reward:eval_reward_cmd"})
def eval_group() -> None:
    """Evaluate with the published ProactiveBench metrics."""


real_only_option = click.option(
    "--real-only", is_flag=True, help="Skip simulated traces (names starting with sim_)."
)
judge_model_option = click.option(
    "--judge-model", type=FILE, default=None, help="Reward model that judges (default: the configured one)."
)


def _traces_option(help: str) -> Any:
    return click.option("--traces", "traces_dir", type=FOLDER, required=True, help=help)


@eval_group.command("timing")
@_traces_option("Folder of traces (shared or upstream format) with per-event help_needed labels.")
@real_only_option
@click.option("--gate/--no-gate", default=True, help="Use the reward-model gate when one is installed.")
@json_flag()
@click.pass_context
def timing_cmd(ctx: click.Context, traces_dir: Path, real_only: bool, gate: bool, as_json: bool) -> None:
    """Replay each trace through the real loop and score proposals against human help_needed labels.

    Prints precision, recall, f1, accuracy, false_alarm (= FP/(TP+FP)), events, p50_latency_ms.
    """
    from edge.bench.replay import replay_each
    from edge.llm import make_llm

    settings = settings_of(ctx)
    traces = labelled_traces(_trace_files(traces_dir, real_only))
    llm = make_llm(settings.llm)
    try:
        with progress_bar(enabled=not as_json) as bar:
            task = bar.add_task("replaying", total=sum(len(t.observations) for t in traces))

            def advance(_decision: object) -> None:
                bar.advance(task)

            result = timing_metrics(
                traces, replay_each(traces, settings, llm, use_gate=gate, on_decision=advance)
            )
    finally:
        llm.close()
    _print(result, as_json, width=15, events="labelled, ")
    if not as_json:
        click.echo(f"{'p50_latency_ms':<15} {result['p50_latency_ms']:.1f}")


def _trace_files(traces_dir: Path, real_only: bool) -> list[Path]:
    return [f for f in trace_files(traces_dir) if not (real_only and f.stem.startswith("sim_"))]


def _judge(ctx: click.Context, judge_model: Path | None) -> tuple[Any, float, float]:
    from edge.gate import make_reward_gate

    settings = settings_of(ctx)
    if judge_model is not None:
        settings.reward.model_path = judge_model
    gate = make_reward_gate(settings.reward)
    return gate.model, gate.silence_threshold, gate.task_threshold


@eval_group.command("judge")
@click.argument("traces_dir", type=FOLDER)
@judge_model_option
@json_flag()
@click.pass_context
def judge_cmd(ctx: click.Context, traces_dir: Path, judge_model: Path | None, as_json: bool) -> None:
    """Judge other agents' responses in upstream-format traces (lists with agent_response).

    Prints the ProactiveBench agent metrics: precision, recall, f1, accuracy, false_alarm, events.
    """
    from edge.bench.judged import judge_traces, tasks_of

    runs = []
    for f in trace_files(traces_dir):
        t = load_trace(f)
        if not t.extras or not any("agent_response" in x for x in t.extras):
            raise SourceError(
                f"{f} has no agent_response entries.", "eval judge reads upstream traces written by an agent."
            )
        runs.append(
            (
                t.name,
                [o.to_event() for o in t.observations],
                [tasks_of(x.get("agent_response")) for x in t.extras],
            )
        )
    judge, s_thr, t_thr = _judge(ctx, judge_model)
    result = judge_traces(judge, runs, s_thr, t_thr)
    _print(result, as_json)


@eval_group.command("bench")
@_traces_option("Folder of traces.")
@click.option(
    "--judge-model",
    type=FILE,
    default=None,
    help="Reward model that judges (default: the configured one; see the caveat).",
)
@real_only_option
@json_flag()
@click.pass_context
def bench_cmd(
    ctx: click.Context, traces_dir: Path, judge_model: Path | None, real_only: bool, as_json: bool
) -> None:
    """Replay traces through our loop and judge each decision with a reward model (ProactiveBench rule).

    Caveat: judged by the same model that gates the loop, proposals pass by construction;
    pass --judge-model for an independent judge.
    """
    from edge.bench.judged import judge_traces
    from edge.bench.replay import replay_each
    from edge.llm import make_llm

    settings = settings_of(ctx)
    traces = [load_trace(f) for f in _trace_files(traces_dir, real_only)]
    llm = make_llm(settings.llm)
    try:
        decided = list(replay_each(traces, settings, llm))
    finally:
        llm.close()
    runs = [
        (
            t.name,
            [o.to_event() for o in t.observations],
            [[d.task] if d.proposed and d.task else [] for d in ds],
        )
        for t, ds in zip(traces, decided, strict=True)
    ]
    judge, s_thr, t_thr = _judge(ctx, judge_model)
    _print(judge_traces(judge, runs, s_thr, t_thr), as_json)


def _print(result: dict[str, Any], as_json: bool, width: int = 12, events: str = "") -> None:
    """The metrics as one JSON object, or one per line (``events`` says which events were scored)."""
    if as_json:
        emit(result, ensure_ascii=True)
        return
    for key in ("precision", "recall", "f1", "accuracy", "false_alarm"):
        click.echo(f"{key:<{width}} {result[key]:.3f}")
    click.echo(f"{'events':<{width}} {result['events']}  ({events}in {result['traces']} traces)")
