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
@click.option("--gate/--no-gate", default=True, help="Let the reward model rank and veto the loop's tasks.")
@click.option(
    "--baselines", is_flag=True, help="Also score always, never, the keyword rule and the trigger alone."
)
@click.option(
    "--loso",
    is_flag=True,
    help="Honest: retrain the trigger without each held-out trace (threshold chosen inside its training).",
)
@click.option(
    "--feedback",
    is_flag=True,
    help="Replay the traces in time order as one user who accepts exactly when help was needed; "
    "the trigger learns online from those answers. Scores with and without them.",
)
@click.option("--loop/--no-loop", default=True, help="Replay the full loop with the LLM (slow).")
@json_flag()
@click.pass_context
def timing_cmd(
    ctx: click.Context,
    traces_dir: Path,
    real_only: bool,
    gate: bool,
    baselines: bool,
    loso: bool,
    feedback: bool,
    loop: bool,
    as_json: bool,
) -> None:
    """Score proposals against the human help_needed labels, per event.

    Prints precision, recall, f1, accuracy, false_alarm (= FP/(TP+FP)), events, p50_latency_ms for the
    full loop; with --baselines the trivial baselines and the trigger alone beside it, from the same run.
    """
    from edge.bench.replay import replay_each
    from edge.bench.trigger_eval import baseline_rows, feedback_replay, loso_models, model_lookup
    from edge.feedback import online_rule
    from edge.trigger.model import load_trigger

    settings = settings_of(ctx)
    pool = labelled_traces(trace_files(traces_dir))
    traces = [t for t in pool if not (real_only and t.name.startswith("sim_"))]
    if not traces:
        raise SourceError(f"No labelled traces in {traces_dir}.", "Pass a folder of traces with help_needed.")
    shipped = load_trigger(settings.trigger.model_path)
    models = {}
    if loso:
        with progress_bar(enabled=not as_json) as bar:
            task = bar.add_task("retraining the trigger per held-out trace", total=len(traces))
            models = loso_models(pool, [t.name for t in traces], lambda _name: bar.advance(task))
    model_for = model_lookup(models, None if loso else shipped)
    result: dict[str, Any] = {"trigger_model": "retrained without each trace" if loso else "shipped"}
    if loop:
        result.update(_loop_metrics(settings, traces, gate, models if loso else None, as_json, replay_each))
    if baselines:
        result["rows"] = baseline_rows(traces, model_for)
        if loop:
            result["rows"]["loop"] = {k: v for k, v in result.items() if k in _LOOP_KEYS}
    if feedback:
        result["feedback"] = feedback_replay(
            traces, model_for, online_rule(settings.feedback), settings.trigger.session_gap_s
        )
    if as_json:
        emit(result, ensure_ascii=True)
        return
    _print_timing(result, traces)


_LOOP_KEYS = (
    "precision", "recall", "f1", "accuracy", "false_alarm", "events", "tp", "fp", "tn", "fn",
    "proposals", "llm_calls", "llm_rate", "p50_latency_ms",
)  # fmt: skip


def _loop_metrics(
    settings: Any, traces: list[Any], gate: bool, models: Any, as_json: bool, replay_each: Any
) -> dict[str, Any]:
    """The full loop (the real LLM) over ``traces``: the timing metrics plus how often the LLM ran."""
    from edge.llm import make_llm

    llm = make_llm(settings.llm)
    decided: list[list[Any]] = []
    try:
        with progress_bar(enabled=not as_json) as bar:
            task = bar.add_task("replaying the loop", total=sum(len(t.observations) for t in traces))
            for ds in replay_each(
                traces,
                settings,
                llm,
                use_gate=gate,
                on_decision=lambda _d: bar.advance(task),
                trigger_models=models,
            ):
                decided.append(ds)
    finally:
        llm.close()
    out = timing_metrics(traces, decided)
    flat = [d for ds in decided for d in ds]
    out["proposals"] = sum(d.proposed for d in flat)
    out["llm_calls"] = sum(d.llm_called for d in flat)
    out["llm_rate"] = out["llm_calls"] / len(flat) if flat else 0.0
    return out


def _echo_row(name: str, m: dict[str, Any]) -> None:
    click.echo(
        f"{name:<10}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}"
        f"{m['false_alarm']:>13.3f}{m['proposals']:>11}"
    )


def _print_timing(result: dict[str, Any], traces: list[Any]) -> None:
    events = sum(o.help_needed is not None for t in traces for o in t.observations)
    click.echo(f"{len(traces)} traces, {events} labelled events; trigger model: {result['trigger_model']}")
    rows = dict(result.get("rows") or {})
    if "f1" in result and "loop" not in rows:
        rows["loop"] = result
    if rows:
        click.echo(f"{'':<10}{'precision':>10}{'recall':>8}{'f1':>7}{'false_alarm':>13}{'proposals':>11}")
        for name, m in rows.items():
            _echo_row(name, m)
    if "llm_calls" in result:
        n = sum(len(t.observations) for t in traces)
        click.echo(
            f"loop: LLM on {result['llm_calls']} of {n} events ({100 * result['llm_rate']:.0f}%), "
            f"p50 latency {result['p50_latency_ms']:.1f} ms"
        )
    fb = result.get("feedback")
    if fb:
        click.echo("\nwith the simulated user's answers (traces in time order, one desktop):")
        for name in ("without", "with"):
            _echo_row(name, fb[name])
        click.echo(f"F1 gain from the answers: {fb['gain_f1']:+.3f} ({fb['answers']})")
        for p in fb["per_session"]:
            click.echo(f"  {p['trace']:<14} F1 {p['f1_without']:.2f} -> {p['f1_with']:.2f}")


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
