"""``proactive trigger train``: fit the when-to-speak trigger on labelled traces and write its model file.

Registered lazily in `edge.cli.LAZY_COMMANDS`. The procedure is
`edge.trigger.train` (numpy only); the honest evaluation is ``proactive eval
timing --loso``.
"""

from __future__ import annotations

from pathlib import Path

import click

from edge.commands.common import FILE, FOLDER, emit, json_flag
from edge.sources.trace import load_trace, trace_files
from edge.trigger.train import fit_model, prepare, training_sessions


def bundled_data() -> Path:
    """The ProactiveBench data shipped in the package (traces/ and reward_train.jsonl)."""
    return Path(__file__).resolve().parents[1] / "data" / "proactivebench"


@click.group(name="trigger")
def trigger_group() -> None:
    """The when-to-speak trigger: P(help now) from structured activity events."""


@trigger_group.command(name="train")
@click.option(
    "--traces",
    "traces_dir",
    type=FOLDER,
    default=None,
    help="Folder of labelled traces (default: the bundled ProactiveBench traces).",
)
@click.option(
    "--data",
    type=FILE,
    default=None,
    help="Reward rows (JSONL) whose sessions add to the traces (default: the bundled rows).",
)
@click.option("--out", type=FILE, required=True, help="Model file to write (.json).")
@json_flag()
def train_cmd(traces_dir: Path | None, data: Path | None, out: Path, as_json: bool) -> None:
    """Train on every labelled session (the real ones decide the threshold) and write OUT."""
    traces_dir = traces_dir or bundled_data() / "traces"
    data = data or bundled_data() / "reward_train.jsonl"
    sessions = training_sessions([load_trace(f) for f in trace_files(traces_dir)], data)
    model = fit_model(prepare(sessions))
    model.save(out)
    info = {
        "model": str(out),
        "config": model.meta["config"],
        "threshold_logit": round(model.threshold, 4),
        "threshold_p_help": round(model.p_threshold, 4),
        "sessions": len(sessions),
        "trained_on": model.meta["trained_on"],
        "features_used": int((model.weights != 0).sum()),
        "bytes": out.stat().st_size,
    }
    if as_json:
        emit(info)
        return
    click.echo(f"wrote {out} ({info['bytes']} bytes): {info['config']}, {info['features_used']} features")
    click.echo(
        f"threshold: logit {info['threshold_logit']} (P(help) {info['threshold_p_help']}); "
        f"trained on {len(info['trained_on'])} of {info['sessions']} labelled sessions"
    )
    click.echo("Honest figures: proactive eval timing --traces DIR --real-only --baselines --loso")
