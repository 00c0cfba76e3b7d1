"""`proactive reward train` and `proactive eval reward`.

Exports two click objects for `edge.cli` to register:

- ``reward_group``: the ``reward`` group (``proactive reward train ...``);
- ``eval_reward_cmd``: the ``reward`` command of the ``eval`` group
  (``proactive eval reward ...``).

Heavy imports (onnxruntime, scikit-learn) happen inside the commands.
Expected failures are `EdgeError`s; the main CLI prints them and exits 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a ``tick(stage, done, total)`` callback."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield tick


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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def train_cmd(data: Path, out: Path, no_cv: bool, as_json: bool) -> None:
    """Cross-validate by trace, train on all rows and export the ONNX head to OUT."""
    from edge.reward_train import train

    with _progress(not as_json) as tick:
        report = train(data, out, cv=not no_cv, tick=tick)
    if as_json:
        click.echo(json.dumps(report))
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_reward_cmd(data: Path, model: Path | None, as_json: bool) -> None:
    """ProactiveBench reward metrics of the model on DATA: MN, CR, CD, FA, accuracy, precision, recall, F1."""
    from edge.reward import OnnxRewardModel
    from edge.reward_train import evaluate, load_rows

    rows = load_rows(data)
    scorer = OnnxRewardModel(model)
    with _progress(not as_json) as tick:
        m = evaluate(rows, scorer, tick)
    if as_json:
        click.echo(json.dumps(m))
        return
    for k in ("rows", "f1", "precision", "recall", "accuracy", "MN", "CR", "CD", "FA"):
        click.echo(f"{k:>10}  {_fmt(m[k])}")
