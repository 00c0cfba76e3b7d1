"""The ``proactive`` command: the entry point and the top-level group.

The other commands live in `edge.commands` modules, imported only when
invoked (`LAZY_COMMANDS`), and share the helpers of `edge.commands.common`.
Every expected failure is an `EdgeError`: printed as one line plus a hint on
stderr, exit code 2, no traceback. Heavy imports (the model, onnxruntime,
Textual) happen inside the command that needs them. ``--json`` output is one
JSON object (or one per line for streams) on stdout and nothing else.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from edge import __version__
from edge.commands.common import FILE
from edge.commands.lazy import LazyGroup
from edge.errors import EdgeError

# Subcommands that live in their own rooms, imported only when invoked:
# name -> "module:attribute" (a click.Command or click.Group).
LAZY_COMMANDS: dict[str, str] = {
    "config": "edge.commands.config:config_cmd",
    "run": "edge.commands.run:run_cmd",
    "replay": "edge.commands.replay:replay_cmd",
    "demo": "edge.commands.replay:demo_cmd",
    "doctor": "edge.commands.doctor:doctor_cmd",
    "eval": "edge.commands.eval:eval_group",
    "memory": "edge.commands.memory:memory_group",
    "ask": "edge.commands.memory:ask_cmd",
    "desktop": "edge.commands.relay:desktop",
    "broker": "edge.commands.relay:broker",
    "service": "edge.commands.relay:service",
    "status": "edge.commands.relay:status",
    "gym": "edge.commands.gym:gym_group",
    "reward": "edge.commands.reward:reward_group",
    "trigger": "edge.commands.trigger:trigger_group",
}

# Commands contributed by other installed packages (the `tui` package adds
# `proactive tui`) through the "proactive.commands" entry-point group, so that
# the core never imports the UI.
PLUGIN_GROUP = "proactive.commands"


class MainGroup(LazyGroup):
    """The top-level group: lazy built-in subcommands plus entry-point plugins."""

    def _plugins(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in self._plugins():
            cmd = self._plugins()[cmd_name].load()
            if not isinstance(cmd, click.Command):
                raise TypeError(f"plugin {cmd_name!r} is not a click command")
        return cmd


@click.group(cls=MainGroup, lazy=LAZY_COMMANDS)
@click.version_option(__version__, prog_name="proactive")
@click.option(
    "--config",
    "config",
    type=FILE,
    default=None,
    help="TOML config file (default: $XDG_CONFIG_HOME/proactive-edge/config.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """proactive-edge: an offline, private, proactive assistant."""
    ctx.obj = {"config": config}


# ------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> None:
    """Console entry point: EdgeError -> message + hint on stderr, exit code 2."""
    try:
        cli.main(args=argv, prog_name="proactive", standalone_mode=False)
    except EdgeError as e:
        click.echo(f"Error: {e.msg}", err=True)
        if e.hint:
            click.echo(f"Hint: {e.hint}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
