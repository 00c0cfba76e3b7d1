"""A real desktop for the companion's tests: Xvfb, a session D-Bus and dunst.

``notification_server`` starts ``Xvfb`` on a free display, then
``dbus-run-session`` running ``dunst`` (the notification server, which
implements org.freedesktop.Notifications with actions) with a config whose
``dmenu`` is a small script: ``dunstctl context`` makes dunst hand that script
every action of the notifications on screen, one line each
(``#Accept (<summary>) [<id>,<action key>]``); the script records the lines and
answers with the one whose label the test picked, and dunst then emits
ActionInvoked exactly as it does for a person choosing from its menu.

``bus_without_display`` is a session D-Bus with no display (dunst, D-Bus
activatable, cannot start on it); ``bus_with_an_actionless_server`` one whose
server cannot show buttons (``actionless_server.py``).

The fixtures skip when the binaries are missing (``scripts/setup.sh --test``
installs them), except under CI, where a missing server is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BINARIES = ("Xvfb", "dbus-run-session", "dbus-send", "dunst", "dunstctl")

PICKER = """#!/bin/sh
# dunst's "dmenu": record what dunst offers, answer with the line of the picked label.
cat > "{menu}.tmp"
mv "{menu}.tmp" "{menu}"
pick=$(cat "{pick}" 2>/dev/null)
[ -n "$pick" ] && grep -m1 "^#$pick (" "{menu}"
exit 0
"""

DUNSTRC = """[global]
    dmenu = {picker}
    # Xvfb has no input: never hold notifications back as if the user were away
    idle_threshold = 0
    history_length = 100

# A proposal stays on screen whatever timeout the client asked for (GNOME Shell, for one,
# ignores it): what takes an expired proposal away is the companion.
[proposals_stay]
    summary = "Help: *"
    override_dbus_timeout = 0
"""


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class NotificationServer:
    """dunst on a session bus of its own; `env` reaches it (DISPLAY, DBUS_SESSION_BUS_ADDRESS)."""

    env: dict[str, str]
    menu: Path
    pick: Path
    log: Path

    def ctl(self, *args: str) -> str:
        out = subprocess.run(
            ["dunstctl", *args], env=self.env, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout

    def displayed(self) -> int:
        return int(self.ctl("count", "displayed").strip())

    def seen(self) -> int:
        """Notifications shown so far: on screen or closed (dunst's history)."""
        return self.displayed() + int(self.ctl("count", "history").strip())

    def choose(self, label: str) -> list[str]:
        """Open dunst's context menu and choose the action called ``label`` ("" chooses nothing).

        Returns the action lines dunst offered, e.g. ``#Accept (Help: ...) [3,<key>]``.
        """
        self.menu.unlink(missing_ok=True)
        self.pick.write_text(label)
        self.ctl("context")
        wait_for(self.menu.exists, 10, "dunst to run its menu")
        return self.menu.read_text().splitlines()

    def history(self) -> list[dict[str, Any]]:
        """Closed notifications, newest first: ``{"id", "summary", "body", "appname"}``."""
        data = json.loads(self.ctl("history"))["data"][0]
        return [
            {k: v["data"] for k, v in n.items() if k in ("id", "summary", "body", "appname")} for n in data
        ]


def _stop(proc: subprocess.Popen[bytes], group: bool) -> None:
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(5)


def _start_xvfb(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb on the first free display; it writes the display number it took to ``-displayfd``."""
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        _stop(proc, group=False)
        raise AssertionError(f"Xvfb did not start:\n{log.read_text()}")
    return proc, f":{number}"


def _has_owner(env: dict[str, str], name: str) -> bool:
    out = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return "boolean true" in out.stdout


def _need_binaries() -> None:
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        why = f"{', '.join(missing)} not installed (scripts/setup.sh --test installs dunst, xvfb, dbus)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def _desktop_env(**extra: str) -> dict[str, str]:
    """This process's environment without any desktop session of its own, plus ``extra``."""
    gone = ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY")
    return {**{k: v for k, v in os.environ.items() if k not in gone}, **extra}


def _session_bus(folder: Path, command: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``dbus-run-session`` running ``sh -c command`` in its own process group; the bus address."""
    address = folder / "bus-address"
    proc = subprocess.Popen(
        ["dbus-run-session", "--", "sh", "-c", f'echo "$DBUS_SESSION_BUS_ADDRESS" > "{address}"; {command}'],
        env=env,
        stdout=(folder / "session.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # dbus-daemon and the command stop with the group
    )
    try:
        wait_for(lambda: address.exists() and address.read_text().strip(), 10, "the session bus")
    except AssertionError:
        _stop(proc, group=True)
        raise
    return proc, address.read_text().strip()


@pytest.fixture
def notification_server(tmp_path: Path) -> Iterator[NotificationServer]:
    _need_binaries()
    d = tmp_path / "dunst"
    d.mkdir()
    menu, pick, picker = d / "menu.txt", d / "pick", d / "pick.sh"
    picker.write_text(PICKER.format(menu=menu, pick=pick))
    picker.chmod(0o755)
    rc = d / "dunstrc"
    rc.write_text(DUNSTRC.format(picker=picker))
    xvfb, display = _start_xvfb(d / "xvfb.log")
    try:
        session, address = _session_bus(d, f'exec dunst -config "{rc}"', _desktop_env(DISPLAY=display))
    except AssertionError:
        _stop(xvfb, group=False)
        raise
    try:
        env = _desktop_env(DISPLAY=display, DBUS_SESSION_BUS_ADDRESS=address)
        # wait until dunst owns the name, or a dunstctl call would D-Bus-activate a second dunst
        wait_for(lambda: _has_owner(env, "org.freedesktop.Notifications"), 15, "dunst on the bus")
        yield NotificationServer(env, menu, pick, d / "session.log")
    finally:
        _stop(session, group=True)
        _stop(xvfb, group=False)


@contextmanager
def _bus_alone(folder: Path, command: str, ready: Path | None = None) -> Iterator[dict[str, str]]:
    """A session D-Bus, no display, running ``command``; waits for ``ready`` to exist. Its environment."""
    _need_binaries()
    folder.mkdir()
    session, address = _session_bus(folder, command, _desktop_env())
    try:
        if ready is not None:
            wait_for(ready.exists, 15, f"{command} ({folder / 'session.log'})")
        yield _desktop_env(DBUS_SESSION_BUS_ADDRESS=address)
    finally:
        _stop(session, group=True)


@pytest.fixture
def bus_without_display(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a session D-Bus with no display: a notification server cannot start on it."""
    with _bus_alone(tmp_path / "bare-bus", "exec sleep 600") as env:
        yield env


@pytest.fixture
def bus_with_an_actionless_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A session D-Bus whose notification server cannot show buttons (`actionless_server.py`)."""
    ready = tmp_path / "actionless" / "ready"
    server = Path(__file__).with_name("actionless_server.py")
    with _bus_alone(ready.parent, f'exec "{sys.executable}" "{server}" "{ready}"', ready) as env:
        yield env
