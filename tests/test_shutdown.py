"""`proactive run` as systemd runs it: SIGTERM is a clean stop (exit 0), its files are private, and a
damaged store gets an honest way out. Real subprocesses, a real mosquitto, the real models.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edge.config import RelaySettings
from edge.mqtt.client import PahoRelay
from edge.mqtt.topics import HUB_STATUS
from edge.store import Store
from tests.conftest import SHARED_DATA
from tests.relay.conftest import Mosquitto, mosquitto  # noqa: F401 - the fixture, for this module

PROACTIVE = Path(sys.executable).parent / "proactive"
TRACE = SHARED_DATA / "traces" / "code_11.json"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def retained_hub_status(port: int) -> dict[str, Any]:
    """The hub status the broker keeps (what a desktop connecting now would see)."""
    got: list[dict[str, Any]] = []
    probe = PahoRelay(
        RelaySettings(broker="external", host="127.0.0.1", port=port), Store.memory(), "desktop", "probe"
    )
    probe.subscribe(HUB_STATUS, lambda d, k, p: got.append(p), dedupe=False)
    probe.start()
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        probe.pump(0.05)
    probe.close()
    assert got, "no retained hub status"
    return got[-1]


@pytest.mark.integration
def test_sigterm_is_the_ctrl_c_shutdown_and_exits_0(
    mosquitto: Any,  # noqa: F811
    isolated_user_dirs: Path,
) -> None:
    broker: Mosquitto = mosquitto()
    home = isolated_user_dirs
    env = {
        **os.environ,
        "PROACTIVE_RELAY__BROKER": "external",
        "PROACTIVE_RELAY__PORT": str(broker.port),
        "PROACTIVE_DESKTOP": "deskA",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    os.umask(0o022)  # what a login shell gives: the hub must not rely on a strict one
    proc = subprocess.Popen(
        [str(PROACTIVE), "run", "--source", "trace", "--trace", str(TRACE), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [json.loads(proc.stdout.readline()) for _ in range(3)]  # three decisions made
        assert all("event" in d for d in lines)

        # while it runs: a private directory, private files (SQLite's -wal/-shm take the db's mode)
        files = {p.name: mode(p) for p in home.iterdir()}
        assert mode(home) == 0o700
        assert {"proactive.db", "proactive.db-wal", "proactive.db-shm"} <= set(files)
        assert all(m == 0o600 for m in files.values()), files
        assert retained_hub_status(broker.port)["state"] == "online"

        stopped_at = time.time()
        proc.terminate()  # SIGTERM, as systemctl stop sends
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert len(out.splitlines()) < 15 - 3  # it stopped before the trace's end
    # the store was closed cleanly: the WAL checkpointed into the file and removed
    assert not (home / "proactive.db-wal").exists()
    # the memory index was written on the way out, as private as the store
    assert mode(home / "proactive.memory.faiss") == 0o600
    assert mode(home / "proactive.memory.faiss.json") == 0o600
    # the relay was flushed: nothing left queued in the outbox
    con = sqlite3.connect(home / "proactive.db")
    queued = con.execute("select count(*) from relay_outbox where status = 'queued'").fetchone()[0]
    con.close()
    assert queued == 0
    # the offline status the hub itself published on the way out (the will would carry its start time)
    status = retained_hub_status(broker.port)
    assert status["state"] == "offline" and status["at"] >= stopped_at - 0.5, (status, stopped_at)


def test_a_damaged_store_says_what_happened_where_and_how_to_recover(isolated_user_dirs: Path) -> None:
    home = isolated_user_dirs
    home.mkdir(parents=True)
    db = home / "proactive.db"
    db.write_bytes(b"this is not a database, it was overwritten by something else" * 100)
    r = subprocess.run(
        [str(PROACTIVE), "run", "--source", "trace", "--trace", str(TRACE), "--no-relay"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0] == "store files readable by others, tightened to 0600: proactive.db"  # a 0644 file
    error, hint = lines[1:]
    assert error.startswith("Error: ") and str(db) in error and "damaged or not a SQLite database" in error
    assert "file is not a database" in error
    assert hint.startswith("Hint: ") and "backup" in hint and "Backup and restore" in hint
    assert f"mv {db} {db}.damaged" in hint and f"{db}-wal" in hint
    assert "writable" not in r.stderr and "Traceback" not in r.stderr
    assert db.read_bytes().startswith(b"this is not a database")  # nothing touched
