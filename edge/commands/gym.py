"""`proactive gym generate`: new training data from a simulated user, offline."""

from __future__ import annotations

from pathlib import Path

import click

from edge.commands.common import FILE, FOLDER, emit, json_flag, progress_bar, settings_of


@click.group("gym")
def gym_group() -> None:
    """The data-generation gym (environment + simulated user + agent + judge)."""


@gym_group.command("generate", context_settings={"show_default": True})
@click.option(
    "--scene",
    "scene_file",
    type=FILE,
    required=True,
    help="Scene seeds (ProactiveBench scenes.yaml format: a list, or one scene).",
)
@click.option(
    "--index",
    type=click.IntRange(min=0),
    default=None,
    help="Which scene of the file (default: seed mod count).",
)
@click.option(
    "--out", "out_dir", type=FOLDER, required=True, help="Output folder; an existing run there is resumed."
)
@click.option("--steps", type=click.IntRange(min=1), default=20, help="User events to generate.")
@click.option("--seed", type=int, default=0, help="Seed for the scene choice, timing and sampling.")
@click.option("--judge", type=click.Choice(["user", "reward"]), default="user", help="Who answers proposals.")
@click.option(
    "--reflect-every", type=click.IntRange(min=0), default=5, help="User reflects every N steps (0: never)."
)
@json_flag("Print a JSON summary.")
@click.pass_context
def generate_cmd(
    ctx: click.Context,
    scene_file: Path,
    index: int | None,
    out_dir: Path,
    steps: int,
    seed: int,
    judge: str,
    reflect_every: int,
    as_json: bool,
) -> None:
    """Run one seeded, resumable episode and write trace, reward rows and ShareGPT data to --out."""
    from edge.errors import ConfigError
    from edge.gym.judges import RewardJudge
    from edge.gym.runner import GymRun, Judge, UserJudge, make_rng
    from edge.gym.scenes import load_scenes
    from edge.gym.user import SimulatedUser
    from edge.hub import Hub

    scenes = load_scenes(scene_file)
    i = seed % len(scenes) if index is None else index
    if i >= len(scenes):
        raise ConfigError(
            f"--index {i} but {scene_file} has {len(scenes)} scenes.", f"Use 0..{len(scenes) - 1}."
        )
    scene = scenes[i]
    settings = settings_of(ctx)
    settings.llm.seed = seed
    out_dir.mkdir(parents=True, exist_ok=True)
    with Hub(settings, db_path=out_dir / "gym.db") as hub:
        user = SimulatedUser(scene, hub.llm, make_rng(seed))
        if judge == "reward":
            the_judge: Judge = RewardJudge.from_settings(settings)
        else:
            the_judge = UserJudge(user)
        run = GymRun(scene, out_dir, hub.loop, user, the_judge, seed, steps, reflect_every)
        with progress_bar(enabled=not as_json) as bar:
            task = bar.add_task(f"gym {scene.name}", total=steps, completed=run.step)
            summary = run.run(on_step=lambda n, _text: bar.update(task, completed=n))
    if as_json:
        emit(summary, ensure_ascii=True)
    else:
        click.echo(
            f"{summary['name']}: {summary['events']} events, {summary['reward_rows']} reward rows, "
            f"{summary['sharegpt_rows']} fine-tuning rows in {out_dir}"
        )
        click.echo(f"categories: {summary['categories']}")
