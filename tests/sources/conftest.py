"""Fixtures for the sources tests: a real aw-server on a free loopback port, an aw-client writer.

The server runs in testing mode with its own XDG directories under the test's
tmp folder (peewee storage, so data survives a restart of the same server),
and is terminated after the test. aw-client's lock and queue files go to the
tmp folder too, never to the developer's home.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port

AW_SERVER = Path(sys.executable).parent / "aw-server"


@pytest.fixture(autouse=True)
def isolated_aw_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """aw-client writes lock files (cache dir) and a request queue (data dir): keep them in tmp."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


class AwServer:
    """A real ``aw-server --testing`` process that can be stopped and started again on one port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "aw-server.log"

    def start(self, timeout_s: float = 30.0) -> None:
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(self.root / "data"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_CACHE_HOME": str(self.root / "cache"),
        }
        cmd = [str(AW_SERVER), "--testing", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aw-server exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                if requests.get(f"{self.url}/api/0/info", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"aw-server did not answer within {timeout_s} s: {self.log.read_text()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def aw_server(tmp_path: Path) -> Iterator[AwServer]:
    """A running aw-server on a free loopback port; terminated after the test."""
    server = AwServer(tmp_path / "aw", free_port())
    server.root.mkdir(parents=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Writer:
    """Inserts watcher events the way the real watchers do (aw-client, tz-aware times)."""

    HOST = "testbox"

    def __init__(self, port: int) -> None:
        from aw_client import ActivityWatchClient

        self.client = ActivityWatchClient("test-writer", testing=True, host="127.0.0.1", port=port)
        self.window = f"aw-watcher-window_{self.HOST}"
        self.afk = f"aw-watcher-afk_{self.HOST}"
        self.web = "aw-watcher-web-firefox"
        self.vscode = f"aw-watcher-vscode_{self.HOST}"

    def create_buckets(self) -> None:
        for bucket, kind in [
            (self.window, "currentwindow"),
            (self.afk, "afkstatus"),
            (self.web, "web.tab.current"),
            (self.vscode, "app.editor.activity"),
        ]:
            self.client.create_bucket(bucket, kind)

    def insert(self, bucket: str, at: datetime, duration: float, data: dict[str, Any]) -> None:
        from aw_core.models import Event

        self.client.insert_event(bucket, Event(timestamp=at, duration=duration, data=data))

    def heartbeat(self, bucket: str, at: datetime, data: dict[str, Any], pulsetime: float = 10.0) -> None:
        from aw_core.models import Event

        self.client.heartbeat(bucket, Event(timestamp=at, duration=0, data=data), pulsetime=pulsetime)

    def count(self, bucket: str) -> int:
        return len(self.client.get_events(bucket))


@pytest.fixture
def writer(aw_server: AwServer) -> Writer:
    w = Writer(aw_server.port)
    w.create_buckets()
    return w


def at(base: float, offset_s: float) -> datetime:
    """A timezone-aware datetime ``offset_s`` after the unix time ``base``."""
    return datetime.fromtimestamp(base, UTC) + timedelta(seconds=offset_s)
