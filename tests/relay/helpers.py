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
from edge.records import Decision, Observation
from edge.relay import HubService, PahoRelay, attach
from edge.store import Store
from tests.doubles import QueuedLLM


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


def obs(text: str, i: int, desktop: str) -> Observation:
    return Observation(
        text=text,
        time=str(1_700_000_000 + i),
        ts=1_700_000_000.0 + i,
        desktop=desktop,
        source="t",
        key=str(i),
    )


@dataclass
class Rig:
    """A hub (QueuedLLM, no reward gate) and one console companion on the same broker."""

    service: HubService
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
            for o in self.service.tick(0.01):
                self.decisions.append(self.service.step(o))
            self.companion.step(0.01)

    def press(self, key: str) -> None:
        self.keys.write(key + "\n")
        self.keys.flush()

    def close(self) -> None:
        self.companion.relay.close()
        self.service.close()
        self.hub.close()
        self.keys.close()


def make_rig(
    tmp: Path, port: int, desktop: str = "alice", llm_replies: list[Any] | None = None, **relay: Any
) -> Rig:
    settings = Settings(desktop="hubhost", relay=relay_settings(port, **relay))
    llm = QueuedLLM(llm_replies or [])
    hub = Hub(settings, db_path=tmp / "hub.db", llm=llm, use_gate=False)
    service = attach(hub, connect_timeout_s=10)
    assert service.relay.connected, service.notes
    clock = SystemClock()
    dstore = Store.open(tmp / f"{desktop}.db")
    drelay = PahoRelay(settings.relay, dstore, "desktop", desktop, clock)
    r, w = os.pipe()
    out = io.StringIO()
    ui = ConsoleUI(out=out, inp=os.fdopen(r, "r"))
    companion = Companion(desktop, drelay, clock, ui)
    drelay.start()
    assert drelay.wait_connected(10)
    rig = Rig(service, hub, llm, companion, ui, out, os.fdopen(w, "w"))
    # both sides see each other's retained "online" before the test starts
    rig.pump(
        lambda: (
            service.link.desktops.get(desktop, {}).get("state") == "online"
            and companion.link.hub_state == "online"
        )
    )
    return rig
