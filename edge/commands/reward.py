"""`proactive reward train` and `proactive eval reward`.

Exports two click objects for `edge.cli` to register:

- ``reward_group``: the ``reward`` group (``proactive reward train ...``);
- ``eval_reward_cmd``: the ``reward`` command of the ``eval`` group
  (``proactive eval reward ...``).

Heavy imports (onnxruntime, scikit-learn) happen inside the commands.
Expected failures are `EdgeError`s; the main CLI prints them and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edge.commands.common import emit, json_flag, stage_progress


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


@click.group(name="reward")
def reward_group() -> None:
    """The reward classifier that gates every proposal."""


@reward_group.command(name="train")
@click.option("--data", "data", type=click.Path(path_type=Path), required=True, help="Reward rows (JSONL).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Head to write (.onnx).")
@click.option(
    "--no-cv", is_flag=True, help="Skip cross-validation (thresholds still come from out-of-fold scores)."
)
@json_flag()
def train_cmd(data: Path, out: Path, no_cv: bool, as_json: bool) -> None:
    """Cross-validate by trace, train on all rows and export the ONNX head to OUT."""
    from edge.reward_train import train

    with stage_progress(not as_json) as tick:
        report = train(data, out, cv=not no_cv, tick=tick)
    if as_json:
        emit(report, ensure_ascii=True)
        return
    click.echo(f"wrote {report['model']} ({report['bytes']} bytes), {report['rows']} rows")
    click.echo(f"thresholds: silence {report['silence_threshold']:.3f}, task {report['task_threshold']:.3f}")
    if "cv" in report:
        cv = report["cv"]
        keys = ("f1", "precision", "recall", "accuracy", "MN", "CR", "CD", "FA")
        click.echo(
            f"trace-grouped CV ({cv['traces']} traces): " + ", ".join(f"{k} {_fmt(cv[k])}" for k in keys)
        )


@click.command(name="reward")
@click.option("--data", "data", type=click.Path(path_type=Path), required=True, help="Reward rows (JSONL).")
@click.option(
    "--model", "model", type=click.Path(path_type=Path), default=None, help="Reward head (default: shipped)."
)
@json_flag()
def eval_reward_cmd(data: Path, model: Path | None, as_json: bool) -> None:
    """ProactiveBench reward metrics of the model on DATA: MN, CR, CD, FA, accuracy, precision, recall, F1."""
    from edge.reward import OnnxRewardModel
    from edge.reward_train import evaluate, load_rows

    rows = load_rows(data)
    scorer = OnnxRewardModel(model)
    with stage_progress(not as_json) as tick:
        m = evaluate(rows, scorer, tick)
    if as_json:
        emit(m, ensure_ascii=True)
        return
    for k in ("rows", "f1", "precision", "recall", "accuracy", "MN", "CR", "CD", "FA"):
        click.echo(f"{k:>10}  {_fmt(m[k])}")
