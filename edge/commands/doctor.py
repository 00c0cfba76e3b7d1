"""`proactive doctor`: run `edge.doctor`'s checks and say what to fix (exit code 2 when one fails)."""

from __future__ import annotations

import sys

import click

from edge.commands.common import emit, json_flag, settings_of


@click.command("doctor")
@json_flag("Print the checks as one JSON object.")
@click.pass_context
def doctor_cmd(ctx: click.Context, as_json: bool) -> None:
    """Check the model, the reward gate, the data directory, the broker and ActivityWatch; say what to fix."""
    from edge.doctor import doctor

    checks = doctor(lambda: settings_of(ctx))
    ok = all(c.ok for c in checks)
    if as_json:
        emit({"ok": ok, "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            mark = click.style("ok  ", fg="green") if c.ok else click.style("FAIL", fg="red")
            click.echo(f"[{mark}] {c.name}: {c.detail}")
            if not c.ok and c.hint:
                click.echo(f"       fix: {c.hint}")
    if not ok:
        sys.exit(2)
