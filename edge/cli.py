"""The ``proactive`` command: the entry point, the top-level group and ``run``.

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
from edge.commands.common import FILE, emit, json_flag, max_events_option, print_decision, settings_of, typed
from edge.commands.lazy import LazyGroup
from edge.config import Settings, store_path
from edge.errors import EdgeError
from edge.records import Decision

# Subcommands that live in their own rooms, imported only when invoked:
# name -> "module:attribute" (a click.Command or click.Group).
LAZY_COMMANDS: dict[str, str] = {
    "config": "edge.commands.config:config_cmd",
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


# ------------------------------------------------------------------ run


@cli.command()
@click.option(
    "--source", type=click.Choice(["activitywatch", "trace"]), default=None, help="Override source.kind."
)
@click.option("--trace", type=FILE, default=None, help="Trace file for --source trace.")
@max_events_option
@json_flag("One JSON line per decision.")
@click.option(
    "--relay/--no-relay",
    default=True,
    help="Serve the desktops over MQTT: their activity in, proposals and results out (default on).",
)
@click.option(
    "--local/--no-local",
    default=True,
    help="Also read the configured local source (off: only activity relayed by desktop companions).",
)
@click.pass_context
def run(
    ctx: click.Context,
    source: str | None,
    trace: Path | None,
    max_events: int | None,
    as_json: bool,
    relay: bool,
    local: bool,
) -> None:
    """Run the hub continuously on the configured source until interrupted.

    With the relay (default) the hub also serves every desktop companion over
    MQTT, starting the embedded broker when relay.broker = "embedded". A trace
    source still ends the run when it is exhausted; use --no-local to serve
    only the desktops.
    """
    from edge.hub import Hub

    overrides: dict[str, Any] = {}
    if typed(ctx, "source"):
        overrides.setdefault("source", {})["kind"] = source
    if typed(ctx, "trace"):
        overrides.setdefault("source", {})["trace"] = str(trace)
        overrides["source"].setdefault("kind", "trace")
    settings = settings_of(ctx, overrides)
    src: Any = _make_source(settings) if local or not relay else None
    count = 0

    def show(d: Decision) -> None:
        nonlocal count
        count += 1
        if as_json:
            emit(d.to_json())
            sys.stdout.flush()
        else:
            print_decision(d)

    warned: list[str] = []

    def source_down(e: EdgeError) -> None:
        if not warned:  # say it once; the source itself backs off
            click.echo(f"{e.msg} Retrying with backoff; {e.hint}", err=True)
            warned.append(e.msg)

    if relay:
        _run_relay(settings, src, show, lambda: max_events is not None and count >= max_events, source_down)
        return
    with Hub(settings) as hub:
        try:
            hub.loop.run(
                src,
                settings.activitywatch.poll_interval_s,
                on_decision=show,
                should_stop=lambda: max_events is not None and count >= max_events,
                on_source_error=source_down,
            )
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        finally:
            src.commit()


def _run_relay(settings: Settings, src: Any, show: Any, should_stop: Any, source_down: Any) -> None:
    """`proactive run` serving the desktops over MQTT (`Hub.run`): their activity + the local source."""
    from edge.hub import Hub

    finite = src is not None and settings.source.kind == "trace"
    with Hub(settings, serve=True) as hub:
        for note in hub.start():
            click.echo(note, err=True)
        click.echo(
            f"relay: {hub.status()['broker']}, broker {settings.relay.host}:{settings.relay.port}",
            err=True,
        )
        try:
            hub.run(
                local_source=src,
                on_decision=show,
                should_stop=lambda: should_stop() or (finite and src.exhausted),
                on_source_error=source_down,
                poll_interval_s=settings.activitywatch.poll_interval_s,
            )
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        finally:
            if src is not None:
                src.commit()


def _make_source(settings: Settings) -> Any:
    from edge.clock import SystemClock
    from edge.errors import ConfigError
    from edge.sources.activitywatch import ActivityWatchSource
    from edge.sources.trace import TraceSource, load_trace
    from edge.store import Store

    if settings.source.kind == "trace":
        if settings.source.trace is None:
            raise ConfigError("source.kind is 'trace' but no trace file is set.", "Pass --trace FILE.")
        return TraceSource(load_trace(settings.source.trace, desktop=settings.desktop))
    return ActivityWatchSource(settings, Store.open(store_path()), SystemClock())


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
