"""`proactive config`: the effective settings, or every key with its default and meaning."""

from __future__ import annotations

import json

import click

from edge.commands.common import emit, json_flag, settings_of
from edge.config import data_dir, defaults_toml


@click.command("config")
@click.option("--defaults", is_flag=True, help="Print every key with its default and meaning.")
@json_flag("Print the effective settings as JSON.")
@click.pass_context
def config_cmd(ctx: click.Context, defaults: bool, as_json: bool) -> None:
    """Show the effective configuration (file + PROACTIVE_* environment)."""
    if defaults:
        click.echo(defaults_toml(), nl=False)
        return
    settings = settings_of(ctx)
    if as_json:
        emit({**settings.model_dump(mode="json"), "data_dir": str(data_dir())})
    else:
        click.echo(f"data directory: {data_dir()}")
        click.echo(json.dumps(settings.model_dump(mode="json"), indent=2))
