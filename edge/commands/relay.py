"""Commands of the relay room: ``desktop``, ``broker``, ``service``, ``status``.

Registered lazily in `edge.cli.LAZY_COMMANDS`; heavy imports happen inside
the commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from edge.commands.common import settings_of, typed
from edge.config import Settings, config_home, store_path


def _desktop_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A typed desktop name, checked by the one rule (`edge.mqtt.topics.check_name`): exit 2 if bad."""
    from edge.errors import RelayError
    from edge.mqtt.topics import check_name

    if value is None:
        return None
    try:
        return check_name(value)
    except RelayError as e:
        raise click.BadParameter(f"{e.msg} {e.hint}") from e


def _desktop_names(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    """``--desktops a,b``: each name checked as a desktop's mosquitto user (exit 2 naming the bad one)."""
    from edge.errors import RelayError
    from edge.mqtt.mosquitto import check_desktop_user

    names = [d.strip() for d in value.split(",") if d.strip()]
    if not names:
        raise click.BadParameter("no desktop names given; e.g. --desktops alice-pc,bob-laptop")
    try:
        return [check_desktop_user(d) for d in names]
    except RelayError as e:
        raise click.BadParameter(f"{e.msg} {e.hint}") from e


def _relay_overrides(ctx: click.Context, host: str | None, port: int | None) -> dict[str, Any]:
    relay: dict[str, Any] = {}
    if typed(ctx, "host"):
        relay["host"] = host
    if typed(ctx, "port"):
        relay["port"] = port
    return {"relay": relay} if relay else {}


# ------------------------------------------------------------------ desktop


@click.command("desktop")
@click.option(
    "--name",
    default=None,
    callback=_desktop_name,
    help="This desktop's name (default: the `desktop` setting, the host name): letters, digits, "
    "'.', '_' or '-', at most 64, not 'hub'.",
)
@click.option(
    "--console", is_flag=True, help="Print proposals and read a/r/i from stdin instead of notifications."
)
@click.option("--host", default=None, help="Broker host (overrides relay.host).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Broker port (overrides relay.port)."
)
@click.option(
    "--trace",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Forward the events of a trace file instead of ActivityWatch (demos, tests).",
)
@click.option(
    "--trace-interval", type=float, default=1.0, show_default=True, help="Seconds between trace events."
)
@click.option("--max-seconds", type=float, default=None, help="Exit after this many seconds.")
@click.pass_context
def desktop(
    ctx: click.Context,
    name: str | None,
    console: bool,
    host: str | None,
    port: int | None,
    trace: Path | None,
    trace_interval: float,
    max_seconds: float | None,
) -> None:
    """The desktop companion: forwards activity to the hub and shows its proposals."""
    from edge.desktop import build_companion

    settings = settings_of(ctx, _relay_overrides(ctx, host, port))

    def note(msg: str) -> None:
        click.echo(msg, err=True)

    companion = build_companion(
        settings,
        name or settings.desktop,
        console=console,
        trace=trace,
        trace_interval=trace_interval,
        on_note=note,
    )
    note(f"desktop {companion.name}: broker {settings.relay.host}:{settings.relay.port}")
    t0 = time.monotonic()
    try:
        companion.run(should_stop=lambda: max_seconds is not None and time.monotonic() - t0 >= max_seconds)
    except KeyboardInterrupt:
        note("stopped")


# ------------------------------------------------------------------ broker


@click.group("broker")
def broker() -> None:
    """MQTT broker helpers: mosquitto credentials and ACL, the embedded broker alone."""


@broker.command("acl")
@click.option(
    "--desktops",
    required=True,
    callback=_desktop_names,
    help="Comma-separated desktop names, e.g. alice-pc,bob-laptop (letters, digits, '.', '_', '-').",
)
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Directory to write."
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=1883, show_default=True, help="Desktops' port."
)
@click.option("--bind", default="0.0.0.0", show_default=True, help="The desktops' listener address.")
@click.option(
    "--local-port",
    type=click.IntRange(0, 65535),
    default=1884,
    show_default=True,
    help="The hub machine's loopback listener (client ids not tied to users); 0: none.",
)
@click.option("--hub-user", default="hub", show_default=True, help="The hub's MQTT user (may do everything).")
@click.option("--json", "as_json", is_flag=True, help="Print the paths and passwords as JSON.")
def broker_acl(
    desktops: list[str], out: Path, port: int, bind: str, local_port: int, hub_user: str, as_json: bool
) -> None:
    """Write a mosquitto password file, ACL and config: each desktop reads and writes only its own topics,
    and connects as its own client id (its user name), so it cannot disconnect the hub."""
    from edge.mqtt.mosquitto import write_mosquitto_files

    files = write_mosquitto_files(
        desktops, out, port=port, bind=bind, hub_user=hub_user, local_port=local_port or None
    )
    info = {
        "passwd": str(files.passwd),
        "acl": str(files.acl),
        "conf": str(files.conf),
        "credentials": str(out / "credentials.toml"),
        "users": sorted(files.credentials),
        "hashed_by": "mosquitto_passwd" if files.used_mosquitto_passwd else "proactive (PBKDF2-SHA512)",
    }
    if as_json:
        click.echo(json.dumps(info))
        return
    for key in ("passwd", "acl", "conf", "credentials"):
        click.echo(f"{key:12} {info[key]}")
    click.echo(f"users        {', '.join(info['users'])} (hashes by {info['hashed_by']})")
    click.echo("Copy each machine's [relay] block from credentials.toml into its config.toml;")
    click.echo(f"include {files.conf} from /etc/mosquitto/conf.d/ and restart mosquitto.")


@broker.command("serve")
@click.option("--host", default=None, help="Bind address (overrides relay.host).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (overrides relay.port).")
@click.pass_context
def broker_serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run only the embedded (amqtt) broker until interrupted."""
    from edge.mqtt.broker import EmbeddedBroker

    settings = settings_of(ctx, _relay_overrides(ctx, host, port))
    b = EmbeddedBroker(settings.relay.host, settings.relay.port)
    b.start()
    click.echo(b.describe(), err=True)
    warning = b.exposure_warning()
    if warning is not None:
        click.echo(warning, err=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()


# ------------------------------------------------------------------ service


def unit_text(kind: str, exe: str | None = None) -> str:
    """The systemd unit for ``hub``, ``desktop`` (a user unit) or ``mosquitto`` (a drop-in config)."""
    exe = exe or shutil.which("proactive") or "/opt/proactive-edge/.venv/bin/proactive"
    if kind == "hub":
        return f"""# /etc/systemd/system/proactive-hub.service  (written by `proactive service print hub`)
[Unit]
Description=proactive-edge hub (proactive run)
Wants=network-online.target mosquitto.service
After=network-online.target mosquitto.service

[Service]
Type=simple
User=proactive
Group=proactive
Environment=PROACTIVE_HOME=/var/lib/proactive-edge
Environment=OMP_WAIT_POLICY=PASSIVE
ExecStart={exe} run
Restart=on-failure
RestartSec=5
Nice=5
MemoryHigh=75%
StateDirectory=proactive-edge
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
ReadWritePaths=/var/lib/proactive-edge

[Install]
WantedBy=multi-user.target
"""
    if kind == "desktop":
        return f"""# ~/.config/systemd/user/proactive-desktop.service
# (written by `proactive service print desktop`)
# Enable with: systemctl --user enable --now proactive-desktop
[Unit]
Description=proactive-edge desktop companion (proactive desktop)
After=graphical-session.target
PartOf=graphical-session.target

[Service]
Type=simple
ExecStart={exe} desktop
Restart=on-failure
RestartSec=10

[Install]
WantedBy=graphical-session.target
"""
    if kind == "mosquitto":
        from edge.mqtt.mosquitto import conf_text

        header = (
            "# /etc/mosquitto/conf.d/proactive.conf  (written by `proactive service print mosquitto`)\n"
            "# Make the password file and ACL with:\n"
            "#   proactive broker acl --desktops alice-pc,bob-laptop --out /etc/mosquitto/proactive\n"
            "# then: systemctl enable --now mosquitto\n"
        )
        text = conf_text("/etc/mosquitto/proactive/passwd", "/etc/mosquitto/proactive/acl", header=header)
        return text + "persistence true\npersistence_location /var/lib/mosquitto/\n"
    raise click.BadParameter(f"unknown service {kind!r}")


SERVICES = ("hub", "desktop", "mosquitto")
DESKTOP_UNIT = "proactive-desktop.service"
WRITTEN_BY = "proactive service"  # in every file these commands write: ours to update
SAFE_EXE = re.compile(r"[A-Za-z0-9_./+@:,=~-]+")  # needs no quoting in a unit's ExecStart nor in Exec=


def autostart_text(exe: str) -> str:
    """The XDG autostart entry that starts the companion at login where systemd --user does not.

    In a session that systemd manages (``graphical-session.target`` active)
    with the unit enabled, the unit starts the companion and this entry does
    nothing: systemd's autostart generator skips it (``X-GNOME-HiddenUnderSystemd``),
    and a session that runs autostart entries itself finds the guard in ``Exec``.
    """
    guard = (
        f"systemctl --user -q is-enabled {DESKTOP_UNIT} 2>/dev/null"
        " && systemctl --user -q is-active graphical-session.target 2>/dev/null"
        f" || exec {exe} desktop"
    )
    return f"""# ~/.config/autostart/proactive-desktop.desktop
# (written by `proactive service install desktop`)
[Desktop Entry]
Type=Application
Name=proactive-edge companion
Comment=Forwards this desktop's activity to the proactive-edge hub and shows its proposals
Exec=sh -c "{guard}"
Terminal=false
X-GNOME-Autostart-enabled=true
X-GNOME-HiddenUnderSystemd=true
"""


def _proactive_exe(exe: str | None) -> str:
    """The absolute path of the ``proactive`` to start: ``--exe``, the one on PATH, or the one beside
    this Python (a venv not activated). Raises `EdgeError` when none is found or the path would need
    quoting."""
    from edge.errors import EdgeError

    beside = Path(sys.executable).parent / "proactive"
    found = exe or shutil.which("proactive") or (str(beside) if beside.exists() else None)
    if found is None:
        raise EdgeError("Cannot find the proactive executable to autostart.", "Pass --exe PATH.")
    found = os.path.abspath(os.path.expanduser(found))
    if not SAFE_EXE.fullmatch(found):
        raise EdgeError(
            f"The path {found!r} needs quoting in a systemd unit and an autostart entry.",
            "Pass --exe with a path of letters, digits and ._/+@:,=~- only (e.g. a symlink).",
        )
    return found


def _plan_file(path: Path, text: str, force: bool) -> str:
    """What installing ``text`` at ``path`` does: ``unchanged``, ``write`` or ``update``.

    Raises `EdgeError` for a file there that these commands did not write, unless ``force``.
    """
    from edge.errors import EdgeError

    if not path.exists():
        return "write"
    old = path.read_text(encoding="utf-8", errors="replace")
    if old == text:
        return "unchanged"
    if WRITTEN_BY not in old and not force:
        raise EdgeError(f"{path} exists and was not written by proactive.", "Move it away, or pass --force.")
    return "update"


def install_desktop(exe: str, config_home: Path, dry_run: bool, force: bool) -> dict[str, Any]:
    """Write the companion's systemd --user unit and XDG autostart entry (atomically, only when they
    change), then reload and enable the unit when systemctl is there and a user manager answers.

    Returns ``{"files": [{"path", "action"}], "systemctl": [{"command", "action"}], "notes": [...]}``;
    with ``dry_run`` nothing is written or run and each action says what would be.
    Raises `EdgeError` before writing anything when a file is in the way (see `_plan_file`).
    """
    files = {
        config_home / "systemd" / "user" / DESKTOP_UNIT: unit_text("desktop", exe),
        config_home / "autostart" / "proactive-desktop.desktop": autostart_text(exe),
    }
    plan = {path: _plan_file(path, text, force) for path, text in files.items()}
    out: dict[str, Any] = {"files": [], "systemctl": [], "notes": []}
    for path, text in files.items():
        action = plan[path]
        if action != "unchanged" and not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        if action != "unchanged":
            action = f"would {action}" if dry_run else {"write": "written", "update": "updated"}[action]
        out["files"].append({"path": str(path), "action": action})
    systemctl = shutil.which("systemctl")
    commands = [["--user", "daemon-reload"], ["--user", "enable", DESKTOP_UNIT]]
    if systemctl is None:
        out["notes"].append("no systemctl here: the XDG autostart entry starts the companion at login")
        return out
    for args in commands:
        command = " ".join(["systemctl", *args])
        if dry_run:
            out["systemctl"].append({"command": command, "action": "would run"})
            continue
        run = subprocess.run([systemctl, *args], capture_output=True, text=True, timeout=30)
        if run.returncode != 0:
            why = (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1]
            out["notes"].append(
                f"{command} failed ({why}): no systemd --user session here? "
                "The XDG autostart entry starts the companion at login."
            )
            return out
        out["systemctl"].append({"command": command, "action": "ran"})
    if dry_run:
        return out
    out["notes"].append(f"starts at your next login; to start it now: systemctl --user start {DESKTOP_UNIT}")
    return out


@click.group("service")
def service() -> None:
    """Running as a home service (systemd), or at login on a desktop."""


@service.command("print")
@click.argument("kind", type=click.Choice(SERVICES), required=False)
@click.option("--exe", default=None, help="Path of the proactive executable to put in ExecStart.")
def service_print(kind: str | None, exe: str | None) -> None:
    """Print the systemd unit (hub, desktop) or mosquitto config; all three without KIND."""
    for i, k in enumerate([kind] if kind else SERVICES):
        if i:
            click.echo()
        click.echo(unit_text(k, exe), nl=False)


@service.command("install")
@click.argument("kind", type=click.Choice(["desktop"]))
@click.option(
    "--exe", default=None, help="Path of the proactive executable to start (default: the one found)."
)
@click.option("--dry-run", is_flag=True, help="Say what would be written and run; change nothing.")
@click.option("--force", is_flag=True, help="Overwrite files there that proactive did not write.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object.")
def service_install(kind: str, exe: str | None, dry_run: bool, force: bool, as_json: bool) -> None:
    """Start the desktop companion at login: a systemd --user unit (enabled) and an XDG autostart entry
    for sessions without systemd; only one of them starts it. Safe to run again."""
    info = install_desktop(_proactive_exe(exe), config_home(), dry_run, force)
    if as_json:
        click.echo(json.dumps(info))
        return
    for f in info["files"]:
        click.echo(f"{f['action']:15} {f['path']}")
    for c in info["systemctl"]:
        click.echo(f"{c['action']:15} {c['command']}")
    for note in info["notes"]:
        click.echo(note)


# ------------------------------------------------------------------ status


def status_info(settings: Settings, db_path: Path) -> dict[str, Any]:
    """Proposals, outboxes, adaptations: what `proactive status --json` prints."""
    from edge.clock import SystemClock
    from edge.feedback import FeedbackManager
    from edge.store import Store
    from edge.store.relay import inbound_stats, outbox_counts

    store = Store.open(db_path)
    try:
        fb = FeedbackManager(store, SystemClock(), settings.feedback)
        return {
            "data": str(db_path),
            "observations": store.count("observations"),
            "proposals": store.proposal_counts(),
            "results": store.count("results"),
            "relay": {
                "broker": settings.relay.broker,
                "host": settings.relay.host,
                "port": settings.relay.port,
                "outbox": outbox_counts(store),
                "inbound": inbound_stats(store),
            },
            "feedback": fb.status(),
        }
    finally:
        store.close()


def inbound_line(inbound: dict[str, Any]) -> str:
    """A relay's saved inbound counts in one line: received, dropped by reason, the last drop."""
    drops = ", ".join(f"{n} {why}" for why, n in (inbound.get("drops") or {}).items() if n)
    line = f"{inbound.get('received', 0)} received, {inbound.get('dropped', 0)} dropped"
    if drops:
        line += f" ({drops}); last: {inbound.get('last_drop', '')}"
    return line


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """What the hub has done: proposals, answers, adaptations (trigger offset, interval, suppressions)."""
    info = status_info(settings_of(ctx), store_path())
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"store        {info['data']}")
    click.echo(f"observations {info['observations']}")
    click.echo(f"proposals    {json.dumps(info['proposals'])}")
    click.echo(f"relay        {info['relay']['broker']} {info['relay']['host']}:{info['relay']['port']}")
    for owner, counts in info["relay"]["outbox"].items():
        click.echo(f"  outbox     {owner}: {json.dumps(counts)}")
    for owner, inbound in info["relay"]["inbound"].items():
        click.echo(f"  inbound    {owner}: {inbound_line(inbound)}")
    fb = info["feedback"]
    for d, st in fb["desktops"].items():
        click.echo(
            f"  {d}: trigger offset {st['trigger_offset']:+.3f}, interval +{st['interval_extra_s']:.0f} s"
        )
    for s in fb["suppressions"]:
        click.echo(f"  suppressed on {s['desktop']}: {s['task']}")
    sys.stdout.flush()
