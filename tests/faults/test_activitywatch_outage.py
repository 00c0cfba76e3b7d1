"""The hub's own ActivityWatch stopped, restarted, and frozen with SIGSTOP while a real `proactive run`
serves a relayed desktop over mosquitto: the desktop's events are decided during each outage, each
outage is said once, and the local events resume from the checkpoint: each once, in order.

tests/sources/test_frozen_activitywatch.py proves the freeze in process on the in-memory bus; this
is the same hub as systemd runs it, on the real broker, with a stop and a restart of aw-server too.
A window title with a lone surrogate (aw-server stores and returns it) made that hub exit 1 at every
start, as the event was read again each time; it is repaired as it is read now.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from edge.store import Store
from tests.faults.conftest import Served
from tests.faults.harness import QUIET, Desktop, tear_down, wait_for
from tests.relay.conftest import Mosquitto
from tests.sources.conftest import AwServer, Writer, at

pytestmark = pytest.mark.integration

TIMEOUT_S = 1.0


def test_activitywatch_stopped_frozen_and_back_never_stalls_the_relayed_desktops(
    mosquitto: Any, aw_server: AwServer, writer: Writer, tmp_path: Path
) -> None:
    broker: Mosquitto = mosquitto()
    base = float(int(time.time()) - 60)
    writer.insert(writer.window, at(base, 0), 10, {"app": "Code", "title": "a.py - p - Visual Studio Code"})
    writer.insert(writer.window, at(base, 10), 10, {"app": "Slack", "title": "general"})
    hub = Served("mosquitto", broker.port).hub(
        tmp_path,
        args=[],  # the local ActivityWatch as well as the desktops
        env={
            "PROACTIVE_ACTIVITYWATCH__PORT": str(aw_server.port),
            "PROACTIVE_ACTIVITYWATCH__TIMEOUT_S": str(TIMEOUT_S),
            "PROACTIVE_ACTIVITYWATCH__POLL_INTERVAL_S": "0.3",
            "PROACTIVE_ACTIVITYWATCH__MAX_BACKOFF_S": "1",
        },
    )
    relayed: list[str] = []

    def local() -> list[dict[str, Any]]:
        return [d for d in hub.decisions if d["event"] not in relayed]

    def relay_two(tag: str, desk: Desktop) -> None:
        """Two events from the desktop, decided while the outage lasts."""
        sent = [QUIET.format(i=f"{tag}{k}") for k in range(2)]
        for text in sent:
            relayed.append(text)
            desk.send(text, len(relayed))  # its key: one per event
        hub.wait_decided(sent, 15, desk.pump)

    def said(what: str, desk: Desktop) -> None:
        wait_for(lambda: what in hub.stderr(), 15, f"the hub to say {what!r}", desk.pump)

    hub.start()
    desk = Desktop(tmp_path, "alice", broker.port)
    assert aw_server.proc is not None
    try:
        deadline = time.monotonic() + 30
        while len(local()) < 2 and time.monotonic() < deadline:
            desk.pump(0.05)
        assert len(local()) == 2, hub.stderr()

        aw_server.stop()  # down: connection refused
        said("not reachable", desk)
        relay_two("down", desk)
        aw_server.start()
        writer.insert(writer.window, at(base, 20), 10, {"app": "Zoom", "title": "standup"})
        deadline = time.monotonic() + 30
        while len(local()) < 3 and time.monotonic() < deadline:
            desk.pump(0.05)
        assert len(local()) == 3, hub.stderr()

        assert aw_server.proc is not None
        pid = aw_server.proc.pid
        os.kill(pid, signal.SIGSTOP)  # frozen: connections accepted, never answered
        try:
            said(f"did not answer within {TIMEOUT_S:g} s", desk)  # the hub met the frozen server
            relay_two("frozen", desk)
            time.sleep(2 * TIMEOUT_S)  # more reads that time out
            relay_two("still frozen", desk)
        finally:
            os.kill(pid, signal.SIGCONT)
        writer.insert(writer.window, at(base, 30), 10, {"app": "Spotify", "title": ""})
        writer.insert(writer.window, at(base, 40), 10, {"app": "Firefox", "title": "bad \ud800 title"})
        deadline = time.monotonic() + 30
        while len(local()) < 5 and time.monotonic() < deadline:
            desk.pump(0.05)
        time.sleep(1.0)  # a few more polls: a repeated local event would show now
        desk.pump(0.05)
        assert hub.stop() == 0
    finally:
        tear_down(hub, desk)

    err = hub.stderr()
    outages = [line for line in err.splitlines() if "Retrying with backoff" in line]
    assert len(outages) == 2, outages  # once when stopped, once when frozen
    assert "not reachable" in outages[0] and f"did not answer within {TIMEOUT_S:g} s" in outages[1]
    assert "Traceback" not in err
    store = Store.open(hub.store_file)
    try:
        apps = [o.app for o in store.observations("hubhost")]
        texts = [o.text for o in store.observations("alice")]
    finally:
        store.close()
    assert apps == ["Visual Studio Code", "Slack", "Zoom", "Spotify", "Firefox"], apps
    assert texts == relayed
    assert all(hub.decided(t) == 1 for t in relayed)
    assert len(local()) == 5
    assert "\ufffd" in local()[-1]["event"]  # the title's lone surrogate, repaired as it was read
