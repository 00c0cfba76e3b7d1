"""``proactive run``: the hub, on its local source and (by default) serving every desktop over MQTT.

The hub itself is built by `edge.hub.Hub` (the process's one composition
root); this module only turns flags into settings and prints decisions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edge.commands.common import FILE, decision_printer, json_flag, max_events_option, settings_of, typed
from edge.errors import EdgeError
from edge.records import Decision


@click.command("run")
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
def run_cmd(
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
    from edge.hub import Hub, make_local_source

    overrides: dict[str, Any] = {}
    if typed(ctx, "source"):
        overrides.setdefault("source", {})["kind"] = source
    if typed(ctx, "trace"):
        overrides.setdefault("source", {})["trace"] = str(trace)
        overrides["source"].setdefault("kind", "trace")
    settings = settings_of(ctx, overrides)
    src = make_local_source(settings) if local or not relay else None
    printer = decision_printer(as_json)
    count = 0

    def show(d: Decision) -> None:
        nonlocal count
        count += 1
        printer(d)

    def source_down(e: EdgeError) -> None:
        # A source raises once per outage (then backs off quietly): say each outage once.
        click.echo(f"{e.msg} Retrying with backoff; {e.hint}", err=True)

    finite = src is not None and settings.source.kind == "trace"

    def should_stop() -> bool:
        return (max_events is not None and count >= max_events) or (
            finite and src is not None and src.exhausted
        )

    with Hub(settings, serve=relay) as hub:
        if relay:
            for note in hub.start():
                click.echo(note, err=True)
            click.echo(
                f"relay: {hub.status()['broker']}, broker {settings.relay.host}:{settings.relay.port}",
                err=True,
            )
        try:
            if relay:
                hub.run(
                    local_source=src,
                    on_decision=show,
                    should_stop=should_stop,
                    on_source_error=source_down,
                    poll_interval_s=settings.activitywatch.poll_interval_s,
                )
            elif src is not None:
                hub.loop.run(
                    src,
                    settings.activitywatch.poll_interval_s,
                    on_decision=show,
                    should_stop=should_stop,
                    on_source_error=source_down,
                )
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        finally:
            if src is not None:
                src.commit()
