"""``proactive tui``: contributed to the ``proactive`` command through the
"proactive.commands" entry-point group, so that the core never imports the UI.

The command body imports the dashboard: loading this module (every
``proactive`` command does) must not load Textual.
"""

from __future__ import annotations

from pathlib import Path

import click

from edge.config import load_settings, store_path

STORE_FILE = click.Path(path_type=Path, dir_okay=False)
TRACE_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)
SCREEN_NAMES = ["live", "history", "annotate", "memory", "stats"]  # tui.widgets.SCREENS, without Textual


@click.command("tui")
@click.option(
    "--store", type=STORE_FILE, help="Store file to show (default: the data directory's proactive.db)."
)
@click.option(
    "--screen",
    type=click.Choice(SCREEN_NAMES),
    default="live",
    show_default=True,
    help="Screen to open first.",
)
@click.option("--trace", type=TRACE_FILE, help="Open this trace in the Annotate screen.")
@click.option("--annotator", help="Name saved with your labels (default: $USER).")
@click.option("--theme", type=click.Choice(["dark", "light"]), default="dark", show_default=True)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between checks of the store for new data.",
)
@click.pass_context
def tui_cmd(
    ctx: click.Context,
    store: Path | None,
    screen: str,
    trace: Path | None,
    annotator: str | None,
    theme: str,
    poll: float,
) -> None:
    """The dashboard: live proposals, history, annotation, memory, stats and health."""
    from tui.app import make_app  # noqa: PLC0415 - Textual loads only when the dashboard runs

    settings = load_settings((ctx.find_root().obj or {}).get("config"))
    app = make_app(
        store or store_path(),
        settings,
        annotator=annotator,
        trace=trace,
        theme=theme,
        poll_interval=poll,
        screen=screen,
    )
    try:
        app.run()
    finally:
        app.dashboard.close()
