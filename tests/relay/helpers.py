"""Building blocks for the relay tests: a hub wired to the relay and a console companion."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.clock import SystemClock
from edge.config import RelaySettings, Settings
from edge.desktop import Companion, ConsoleUI
from edge.hub import Hub
from edge.mqtt.client import PahoRelay
from edge.records import Decision
from edge.store import Store
from tests.doubles import QueuedLLM, obs

__all__ = ["Rig", "make_rig", "obs", "relay_settings"]


def relay_settings(port: int, **kw: Any) -> RelaySettings:
    base: dict[str, Any] = {
        "broker": "external",
        "host": "127.0.0.1",
        "port": port,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "keepalive": 10,
    }
    return RelaySettings(**{**base, **kw})


@dataclass
class Rig:
    """A hub serving the broker (QueuedLLM, no reward gate) and one console companion on it."""

    hub: Hub
    llm: QueuedLLM
    companion: Companion
    ui: ConsoleUI
    out: io.StringIO
    keys: Any
    decisions: list[Decision] = field(default_factory=list)

    def pump(self, until: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; console so far:\n{self.out.getvalue()}")
            for o in self.hub.tick(0.01):
                self.decisions.append(self.hub.loop.step(o))
            self.companion.step(0.01)

    def press(self, key: str) -> None:
        self.keys.write(key + "\n")
        self.keys.flush()

    def close(self) -> None:
        self.companion.relay.close()
        self.hub.close()
        self.keys.close()


def make_rig(
    tmp: Path, port: int, desktop: str = "alice", llm_replies: list[Any] | None = None, **relay: Any
) -> Rig:
    # The LLM decides at every event (no trigger): the rig tests the relay's side.
    settings = Settings(desktop="hubhost", relay=relay_settings(port, **relay), trigger={"enabled": False})
    llm = QueuedLLM(llm_replies or [])
    hub = Hub(settings, db_path=tmp / "hub.db", llm=llm, use_gate=False, serve=True)
    notes = hub.start(connect_timeout_s=10)
    assert hub.relay is not None and hub.relay.connected, notes
    clock = SystemClock()
    dstore = Store.open(tmp / f"{desktop}.db")
    drelay = PahoRelay(settings.relay, dstore, "desktop", desktop, clock)
    r, w = os.pipe()
    out = io.StringIO()
    ui = ConsoleUI(out=out, inp=os.fdopen(r, "r"))
    companion = Companion(desktop, drelay, clock, ui)
    drelay.start()
    assert drelay.wait_connected(10)
    rig = Rig(hub, llm, companion, ui, out, os.fdopen(w, "w"))
    # both sides see each other's retained "online" before the test starts
    rig.pump(
        lambda: (
            hub.link is not None
            and hub.link.desktops.get(desktop, {}).get("state") == "online"
            and companion.link.hub_state == "online"
        )
    )
    return rig
