"""`proactive service install desktop`: the systemd --user unit and the XDG autostart entry, in a temp HOME.

No test runs the real systemctl: a fake one on PATH records its calls and
answers as the test says (``FAKE_ENABLED``, ``FAKE_ACTIVE``: exit codes of
``is-enabled``/``is-active``; ``FAKE_FAIL``: daemon-reload fails as without a
user manager).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edge.cli import cli, main
from edge.commands.relay import autostart_text

REPO = Path(__file__).resolve().parents[2]
EXE = "/opt/proactive-edge/.venv/bin/proactive"
UNIT = Path(".config/systemd/user/proactive-desktop.service")
ENTRY = Path(".config/autostart/proactive-desktop.desktop")

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "{calls}"
case "$*" in
  *is-enabled*) exit "${{FAKE_ENABLED:-0}}" ;;
  *is-active*) exit "${{FAKE_ACTIVE:-0}}" ;;
  *daemon-reload*)
    if [ -n "$FAKE_FAIL" ]; then echo "Failed to connect to bus: No medium found" >&2; exit 1; fi ;;
esac
exit 0
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME, no XDG_CONFIG_HOME, and a PATH whose only systemctl is the fake one."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    script = bin_ / "systemctl"
    script.write_text(FAKE_SYSTEMCTL.format(calls=tmp_path / "calls"))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_))
    return h


def calls(home: Path) -> list[str]:
    f = home.parent / "calls"
    return f.read_text().splitlines() if f.exists() else []


def install(*args: str) -> Any:
    return CliRunner().invoke(cli, ["service", "install", "desktop", "--exe", EXE, *args])


def fails(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    """Run ``proactive ARGS`` as the console entry point does; it must exit 2. Its stderr lines."""
    with pytest.raises(SystemExit) as e:
        main(list(args))
    assert e.value.code == 2
    return capsys.readouterr().err.splitlines()


def install_json(*args: str) -> dict[str, Any]:
    res = install("--json", *args)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def actions(info: dict[str, Any]) -> list[str]:
    return [f["action"] for f in info["files"]] + [c["action"] for c in info["systemctl"]]


def test_dry_run_says_what_it_would_do_and_does_nothing(home: Path) -> None:
    res = install("--dry-run")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [
        f"would write     {home / UNIT}",
        f"would write     {home / ENTRY}",
        "would run       systemctl --user daemon-reload",
        "would run       systemctl --user enable proactive-desktop.service",
    ]
    assert not (home / ".config").exists() and calls(home) == []


def test_install_writes_the_unit_and_the_entry_enables_the_unit_and_is_idempotent(home: Path) -> None:
    info = install_json()
    assert actions(info) == ["written", "written", "ran", "ran"]
    assert calls(home) == ["--user daemon-reload", "--user enable proactive-desktop.service"]
    unit = home / UNIT
    # the unit is the one `service print desktop` gives (and firmware-notes ships)
    assert unit.read_text() == (REPO / "firmware-notes" / "systemd" / "proactive-desktop.service").read_text()
    entry = (home / ENTRY).read_text()
    assert "[Desktop Entry]\nType=Application\n" in entry and "\nX-GNOME-HiddenUnderSystemd=true\n" in entry
    before = {p: (p.read_text(), p.stat().st_mtime_ns) for p in (unit, home / ENTRY)}
    again = install_json()
    assert actions(again) == ["unchanged", "unchanged", "ran", "ran"]
    assert {p: (p.read_text(), p.stat().st_mtime_ns) for p in before} == before
    assert sorted(p.name for p in (home / ".config").rglob("*") if p.is_file()) == [
        "proactive-desktop.desktop",
        "proactive-desktop.service",
    ]


def test_a_new_executable_updates_both_files(home: Path) -> None:
    install_json()
    res = CliRunner().invoke(cli, ["service", "install", "desktop", "--exe", "/usr/local/bin/proactive"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[:2] == [
        f"updated         {home / UNIT}",
        f"updated         {home / ENTRY}",
    ]
    assert "ExecStart=/usr/local/bin/proactive desktop" in (home / UNIT).read_text()
    assert "exec /usr/local/bin/proactive desktop" in (home / ENTRY).read_text()


def test_without_systemctl_the_autostart_entry_is_the_way(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(home))  # no systemctl anywhere on it
    info = install_json()
    assert actions(info) == ["written", "written"] and calls(home) == []
    assert info["notes"] == ["no systemctl here: the XDG autostart entry starts the companion at login"]


def test_without_a_user_manager_it_says_so_and_keeps_the_files(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "1")
    res = install()
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == (
        "systemctl --user daemon-reload failed (Failed to connect to bus: No medium found): "
        "no systemd --user session here? The XDG autostart entry starts the companion at login."
    )
    assert calls(home) == ["--user daemon-reload"]  # nothing enabled after a failed reload
    assert (home / UNIT).exists() and (home / ENTRY).exists()


def test_a_file_proactive_did_not_write_is_kept_unless_forced(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = home / ENTRY
    mine.parent.mkdir(parents=True)
    mine.write_text("[Desktop Entry]\nType=Application\nExec=my-own-thing\n")
    assert fails(capsys, "service", "install", "desktop", "--exe", EXE) == [
        f"Error: {mine} exists and was not written by proactive.",
        "Hint: Move it away, or pass --force.",
    ]
    assert mine.read_text().endswith("my-own-thing\n") and not (home / UNIT).exists() and calls(home) == []
    assert actions(install_json("--force")) == ["written", "updated", "ran", "ran"]
    assert "exec /opt/proactive-edge/.venv/bin/proactive desktop" in mine.read_text()


def test_xdg_config_home_is_where_the_files_go(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "cfg"))
    info = install_json()
    assert [f["path"] for f in info["files"]] == [
        str(home / "cfg/systemd/user/proactive-desktop.service"),
        str(home / "cfg/autostart/proactive-desktop.desktop"),
    ]


def test_a_path_that_needs_quoting_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = fails(capsys, "service", "install", "desktop", "--exe", "/home/a b/proactive")
    assert len(err) == 2 and "needs quoting" in err[0] and err[1].startswith("Hint: Pass --exe")
    assert not (home / ".config").exists()


def exec_line(entry: str) -> str:
    """The shell command of the entry's ``Exec=sh -c "..."``, checked to need no unescaping."""
    (line,) = [x for x in entry.splitlines() if x.startswith("Exec=")]
    m = re.fullmatch(r'Exec=sh -c "([^"`$\\%]*)"', line)
    assert m is not None, line
    return m.group(1)


@pytest.mark.parametrize(
    "enabled,active,with_systemctl,starts",
    [
        ("0", "0", True, False),  # a systemd-managed session with the unit enabled: the unit starts it
        ("0", "3", True, True),  # graphical-session.target never reached (e.g. Xfce): the entry starts it
        ("1", "0", True, True),  # the unit is not enabled
        ("0", "0", False, True),  # no systemctl at all
    ],
)
def test_the_autostart_entry_starts_the_companion_only_where_the_unit_does_not(
    home: Path, tmp_path: Path, enabled: str, active: str, with_systemctl: bool, starts: bool
) -> None:
    fake = tmp_path / "fake-proactive"
    fake.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path / "ran"}"\n')
    fake.chmod(0o755)
    command = exec_line(autostart_text(str(fake)))
    path = str(tmp_path / "bin") if with_systemctl else str(home)
    subprocess.run(
        ["/bin/sh", "-c", command],
        env={"PATH": path, "FAKE_ENABLED": enabled, "FAKE_ACTIVE": active},
        check=True,
        timeout=10,
    )
    ran = tmp_path / "ran"
    assert ran.exists() == starts
    if starts:
        assert ran.read_text() == "desktop\n"
