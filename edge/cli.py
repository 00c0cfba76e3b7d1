"""The ``proactive`` command.

Every expected failure is an `EdgeError`: printed as one line plus a hint on
stderr, exit code 2, no traceback. Heavy imports (the model, onnxruntime,
Textual) happen inside the command that needs them. ``--json`` output is one
JSON object (or one per line for streams) on stdout and nothing else.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import click

from edge import __version__
from edge.commands.lazy import LazyGroup
from edge.config import Settings, data_dir, defaults_toml, load_settings, store_path
from edge.errors import EdgeError
from edge.records import Decision


def sample_trace_path() -> Path:
    """The trace `proactive demo` replays (a real coding session from ProactiveBench)."""
    return Path(str(resources.files("edge") / "data" / "proactivebench" / "traces" / "code_11.json"))


def _settings(ctx: click.Context, overrides: dict[str, Any] | None = None) -> Settings:
    obj = ctx.find_root().obj or {}
    return load_settings(obj.get("config"), overrides)


def _typed(ctx: click.Context, name: str) -> bool:
    """True when the user typed option ``name`` (a flag overrides config only then)."""
    src = ctx.get_parameter_source(name)
    return src is not None and src.name == "COMMANDLINE"


def _emit(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


# Subcommands that live in their own rooms, imported only when invoked:
# name -> "module:attribute" (a click.Command or click.Group).
LAZY_COMMANDS: dict[str, str] = {
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
        from importlib.metadata import entry_points

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
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML config file (default: $XDG_CONFIG_HOME/proactive-edge/config.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """proactive-edge: an offline, private, proactive assistant."""
    ctx.obj = {"config": config}


# ------------------------------------------------------------------ config


@cli.command("config")
@click.option("--defaults", is_flag=True, help="Print every key with its default and meaning.")
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
@click.pass_context
def config_cmd(ctx: click.Context, defaults: bool, as_json: bool) -> None:
    """Show the effective configuration (file + PROACTIVE_* environment)."""
    if defaults:
        click.echo(defaults_toml(), nl=False)
        return
    settings = _settings(ctx)
    if as_json:
        _emit({**settings.model_dump(mode="json"), "data_dir": str(data_dir())})
    else:
        click.echo(f"data directory: {data_dir()}")
        click.echo(json.dumps(settings.model_dump(mode="json"), indent=2))


# ------------------------------------------------------------------ replay / demo


def _replay(
    settings: Settings,
    trace_path: Path,
    db_path: Path,
    on_decision: Any,
    use_gate: bool = True,
    max_events: int | None = None,
) -> list[Decision]:
    from edge.hub import Hub
    from edge.sources.trace import load_trace

    trace = load_trace(trace_path)  # validate before loading any model
    decisions: list[Decision] = []
    with Hub(settings, db_path=db_path, use_gate=use_gate) as hub:
        for obs in trace.observations[:max_events]:
            d = hub.loop.step(obs)
            decisions.append(d)
            on_decision(d)
    return decisions


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON line per event.")
@click.option("--store/--no-store", default=True, help="Keep observations and proposals in the data store.")
@click.option("--gate/--no-gate", default=True, help="Use the reward-model gate when one is installed.")
@click.option("--max-events", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.pass_context
def replay(
    ctx: click.Context, trace: Path, as_json: bool, store: bool, gate: bool, max_events: int | None
) -> None:
    """Run the whole loop over one TRACE file (shared or upstream ProactiveBench format).

    With --json prints one line per event: time, event, proposed, task, score, latency_ms.
    """
    settings = _settings(ctx)

    def show(d: Decision) -> None:
        if as_json:
            _emit(d.to_json())
            sys.stdout.flush()
        else:
            _print_decision(d)

    with tempfile.TemporaryDirectory() as tmp:
        db = store_path() if store else Path(tmp) / "replay.db"
        _replay(settings, trace, db, show, use_gate=gate, max_events=max_events)


def _print_decision(d: Decision) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    score = "" if d.score is None else f" score={d.score:.2f}"
    console.print(f"[dim]{escape(d.observation.time)}[/dim] {escape(d.observation.text)}")
    if d.proposed:
        console.print(
            f"   [bold green]>> proposal:[/bold green] {escape(d.task or '')}"
            f"[dim]{score} ({d.latency_ms:.0f} ms)[/dim]"
        )
        if d.response and d.response.response:
            console.print(f"      [green]{escape(d.response.response)}[/green]")
    else:
        console.print(f"   [dim]-- silent ({escape(silence_reason(d))}, {d.latency_ms:.0f} ms)[/dim]")


def silence_reason(d: Decision) -> str:
    """Why the loop stayed silent for ``d``, in a few words (for the console)."""
    silence = "" if d.silence_score is None else f"P(silence)={d.silence_score:.2f}"
    if not d.llm_called:
        return f"gate: {silence}" if silence else "gate"
    if d.response is None:
        return "LLM output unusable"
    if d.candidates:
        task, task_score = d.candidates[0]
        scored = "" if task_score is None else f" scored {task_score:.2f}"
        return f"held back: '{task}'{scored}"
    return f"LLM chose silence, {silence}" if silence else "LLM chose silence"


@cli.command()
@click.option(
    "--trace",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Trace to replay (default: a bundled real coding session).",
)
@click.option("--max-events", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.pass_context
def demo(ctx: click.Context, trace: Path | None, max_events: int | None) -> None:
    """Replay a bundled sample trace through the whole loop on the embedded defaults.

    Uses a temporary data store, so your own data is untouched.
    """
    from rich.console import Console

    settings = _settings(ctx)
    path = trace or sample_trace_path()
    console = Console(highlight=False)
    console.print(
        f"[bold]proactive-edge demo[/bold]: replaying {path.name} with model "
        f"{settings.llm.model_path or 'SmolLM2-135M-Instruct Q4_1 (embedded)'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        decisions = _replay(settings, path, Path(tmp) / "demo.db", _print_decision, max_events=max_events)
    n_prop = sum(d.proposed for d in decisions)
    llm_calls = sum(d.llm_called for d in decisions)
    console.print(f"\n[bold]{len(decisions)} events, {n_prop} proposals, {llm_calls} LLM calls.[/bold]")


# ------------------------------------------------------------------ run


@cli.command()
@click.option(
    "--source", type=click.Choice(["activitywatch", "trace"]), default=None, help="Override source.kind."
)
@click.option(
    "--trace",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Trace file for --source trace.",
)
@click.option("--max-events", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per decision.")
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
    if _typed(ctx, "source"):
        overrides.setdefault("source", {})["kind"] = source
    if _typed(ctx, "trace"):
        overrides.setdefault("source", {})["trace"] = str(trace)
        overrides["source"].setdefault("kind", "trace")
    settings = _settings(ctx, overrides)
    src: Any = _make_source(settings) if local or not relay else None
    count = 0

    def show(d: Decision) -> None:
        nonlocal count
        count += 1
        if as_json:
            _emit(d.to_json())
            sys.stdout.flush()
        else:
            _print_decision(d)

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


# ------------------------------------------------------------------ doctor


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as one JSON object.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check the model, the reward gate, the data directory, the broker and ActivityWatch; say what to fix."""
    from edge.doctor import run_checks

    settings = _settings(ctx)
    checks = run_checks(settings)
    ok = all(c.ok for c in checks)
    if as_json:
        _emit({"ok": ok, "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            mark = click.style("ok  ", fg="green") if c.ok else click.style("FAIL", fg="red")
            click.echo(f"[{mark}] {c.name}: {c.detail}")
            if not c.ok and c.hint:
                click.echo(f"       fix: {c.hint}")
    if not ok:
        sys.exit(1)


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
