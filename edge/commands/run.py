"""``proactive run``: the hub, on its local source and (by default) serving every desktop over MQTT.

The hub itself is built by `edge.hub.Hub` (the process's one composition
root); this module only turns flags into settings and prints decisions, and
owns the process's lifecycle:

* SIGTERM (systemd's stop) runs the same shutdown as Ctrl-C: the decision in
  progress is abandoned (a local observation is read again at the next
  start), the local source's checkpoint is committed when all it handed out
  was decided, the relay is flushed and publishes ``offline``, the memory
  index is written, the store closed; then the process exits 0. Why 0 and not 143: the stop was
  asked for and went cleanly, and systemd counts exit 0 after its SIGTERM as
  a clean stop, while 143 would be logged as a failure unless the unit said
  ``SuccessExitStatus=143``. A second SIGTERM during that shutdown is ignored
  (``kill -9`` still works); before the hub is up, SIGTERM kills as usual
  (nothing decided yet).
* The process's umask is 077, so every file it creates (the store, its
  -wal/-shm, the memory index and its sidecar, rewritten on each flush) is
  private to the user.
* A store found damaged mid-run (SQLite: malformed, not a database) is the
  same `StoreError` with the way out as at open, not a traceback.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path
from types import FrameType
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
    from edge.config import store_path
    from edge.hub import Hub, make_local_source
    from edge.store.core import damaged_store, is_damaged

    os.umask(0o077)  # the hub's files hold the user's activity
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

    try:
        hub = Hub(settings, serve=relay)  # a SIGTERM while the models load just ends the process
        stopping = False

        def terminate(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            if not stopping:  # the first one: the Ctrl-C path; later ones let the shutdown finish
                stopping = True
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, terminate)
        try:
            if relay:
                for note in hub.start():
                    click.echo(note, err=True)
                click.echo(
                    f"relay: {hub.status()['broker']}, broker {settings.relay.host}:{settings.relay.port}",
                    err=True,
                )
                # commits the local source itself, and only once all it handed out is decided
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
                src.commit()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        finally:
            stopping = True
            hub.close()
            signal.signal(signal.SIGTERM, previous)
    except sqlite3.DatabaseError as e:
        if is_damaged(e):
            raise damaged_store(store_path(), e) from e
        raise
