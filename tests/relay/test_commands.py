"""The relay's commands: `proactive desktop --console` as a real process, `service print`, `status`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edge.cli import cli
from edge.config import Settings, store_path
from edge.hub import Hub
from edge.store import Store
from edge.store.feedback import FeedbackStore
from tests.doubles import QueuedLLM, response
from tests.relay.helpers import relay_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_desktop_console_process_against_a_hub(amqtt_broker: Any, tmp_path: Path) -> None:
    trace = tmp_path / "t.json"
    trace.write_text(
        json.dumps({"name": "t", "events": [{"time": "1717377990.0", "event": "The user opens notes.md"}]})
    )
    llm = QueuedLLM([response("Summarise notes.md", say="Want a summary?"), "- one\n- two"])
    hub = Hub(
        Settings(relay=relay_settings(amqtt_broker.port), trigger={"enabled": False}),
        db_path=tmp_path / "hub.db",
        llm=llm,
        use_gate=False,
        serve=True,
    )
    hub.start()
    env = {
        **os.environ,
        "PROACTIVE_HOME": str(tmp_path / "desk"),
        "PROACTIVE_RELAY__PORT": str(amqtt_broker.port),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "desktop",
            "--name",
            "bob",
            "--console",
            "--trace",
            str(trace),
            "--max-seconds",
            "20",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        deadline = time.monotonic() + 20
        decisions = []
        while not decisions and time.monotonic() < deadline:
            decisions += [hub.loop.step(o) for o in hub.tick(0.05)]
        assert decisions and decisions[0].proposed and decisions[0].observation.desktop == "bob"
        line = proc.stdout.readline()
        assert line.startswith("[proposal ") and "Summarise notes.md" in line
        proc.stdin.write("a\n")
        proc.stdin.flush()
        while hub.store.count("results") == 0 and time.monotonic() < deadline:
            hub.tick(0.05)
        rest = ""
        while "[result" not in rest and time.monotonic() < deadline:
            rest += proc.stdout.readline()
        assert "[accepted" in rest and "[result" in rest
        assert "- one" in proc.stdout.readline() + proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait(10)
        hub.close()


@pytest.mark.parametrize(
    "kind,file",
    [
        ("hub", "proactive-hub.service"),
        ("desktop", "proactive-desktop.service"),
        ("mosquitto", "mosquitto-proactive.conf"),
    ],
)
def test_service_print_matches_firmware_notes(kind: str, file: str) -> None:
    exe = "/opt/proactive-edge/.venv/bin/proactive"
    res = CliRunner().invoke(cli, ["service", "print", kind, "--exe", exe])
    assert res.exit_code == 0, res.output
    assert res.output == (REPO / "firmware-notes" / "systemd" / file).read_text()


def test_status_json_on_a_fresh_store() -> None:
    res = CliRunner().invoke(cli, ["status", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert (
        info["proposals"] == {}
        and info["feedback"]["desktops"] == {}
        and info["relay"]["broker"] == "embedded"
    )


def test_status_prints_each_desktop_s_trigger_offset() -> None:
    store = Store.open(store_path())
    FeedbackStore(store).save_state("alice", -0.35, 120.0, time.time())
    FeedbackStore(store).save_state("bob", 0.2, 0.0, time.time())
    store.close()
    res = CliRunner().invoke(cli, ["status"])
    assert res.exit_code == 0, res.output
    assert "  alice: trigger offset -0.350, interval +120 s" in res.output.splitlines()
    assert "  bob: trigger offset +0.200, interval +0 s" in res.output.splitlines()
    assert "threshold" not in res.output
    info = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
    assert info["feedback"]["desktops"]["alice"]["trigger_offset"] == -0.35
