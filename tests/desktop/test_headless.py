"""Without a desktop: `proactive desktop` (native mode) says so and exits 2; `proactive doctor` checks
the notification server only where there is a desktop session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.doctor import check_notifications
from tests.desktop.conftest import NotificationServer

REPO = Path(__file__).resolve().parents[2]
SESSION = ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY")


def companion(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "desktop", "--name", "test", *args],
        env={**env, "PROACTIVE_HOME": str(tmp_path / "desk")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def says_no_notifications(out: subprocess.CompletedProcess[str], error: str) -> None:
    """Exit 2, nothing on stdout, and on stderr exactly the error line and its hint."""
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 2, out.stderr
    assert lines[0].startswith(f"Error: {error}"), lines[0]
    assert (
        lines[1].startswith("Hint: Run `proactive desktop --console`") and "notification daemon" in lines[1]
    )


def bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SESSION}


def test_without_a_session_bus_the_native_companion_says_so_and_exits_2(tmp_path: Path) -> None:
    out = companion(bare_env(), tmp_path)
    says_no_notifications(out, "No notification server: there is no D-Bus session bus")
    assert not (tmp_path / "desk").exists()  # checked before anything is opened


@pytest.mark.integration
def test_on_a_session_bus_without_a_display_the_native_companion_says_so_and_exits_2(
    bus_without_display: dict[str, str], tmp_path: Path
) -> None:
    """dunst is D-Bus-activatable but cannot start without a display: the bus says why."""
    out = companion(bus_without_display, tmp_path)
    assert out.returncode == 2
    ours = [line for line in out.stderr.splitlines() if line.startswith(("Error:", "Hint:"))]
    assert len(ours) == 2, out.stderr  # (dbus-daemon logs the failed activation on the same stderr)
    assert ours[0].startswith("Error: No notification server answers on the D-Bus session ("), ours[0]
    assert "proactive desktop --console" in ours[1]


def test_console_mode_needs_no_desktop(tmp_path: Path) -> None:
    out = companion(bare_env(), tmp_path, "--console", "--max-seconds", "1")
    assert out.returncode == 0, out.stderr
    assert "Error:" not in out.stderr and "notification" not in out.stderr


def test_doctor_does_not_check_notifications_where_there_is_no_desktop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in SESSION:
        monkeypatch.delenv(name, raising=False)
    check = check_notifications()
    assert check.ok and check.detail.startswith("not checked: no desktop session")


def test_doctor_fails_a_display_without_a_session_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    check = check_notifications()
    assert not check.ok and "DISPLAY set but no D-Bus session bus" in check.detail
    assert "proactive desktop --console" in check.hint


def test_doctor_fails_without_the_desktop_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setitem(sys.modules, "desktop_notifier", None)  # import fails as when not installed
    check = check_notifications()
    assert not check.ok and "desktop-notifier is not installed" in check.detail
    assert "pip install -e '.[desktop]'" in check.hint


@pytest.mark.integration
def test_doctor_fails_a_session_bus_whose_notification_server_cannot_start(
    bus_without_display: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SESSION:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_without_display["DBUS_SESSION_BUS_ADDRESS"])
    check = check_notifications()
    assert not check.ok and check.detail.startswith("no notification server answers (")
    assert "notification daemon" in check.hint


@pytest.mark.integration
def test_doctor_on_a_desktop_finds_the_notification_server(
    notification_server: NotificationServer, tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "doctor", "--json"],
        env={**notification_server.env, "PROACTIVE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["notifications"] == {
        "name": "notifications",
        "ok": True,
        "detail": "a notification server answers and shows Accept/Reject buttons",
        "hint": "",
    }


@pytest.mark.integration
def test_a_server_without_buttons_is_no_notification_server_for_proposals(
    bus_with_an_actionless_server: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = companion(bus_with_an_actionless_server, tmp_path)
    says_no_notifications(out, "The notification service cannot show Accept/Reject buttons.")
    for name in SESSION:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus_with_an_actionless_server["DBUS_SESSION_BUS_ADDRESS"])
    check = check_notifications()
    assert not check.ok and check.detail == "the notification service cannot show Accept/Reject buttons"
