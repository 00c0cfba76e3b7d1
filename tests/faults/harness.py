"""The parts of a fault case: a real `proactive run` subprocess, desktops on a real broker, a raw client.

`HubProcess` runs ``proactive run --json`` as systemd would (its own data
directory, settings from ``PROACTIVE_*`` variables) and collects the decision
lines it prints; it can be stopped with SIGTERM, killed with SIGKILL and
started again on the same directory. `Desktop` is a companion's relay and
link in this process (paho over the same broker, its own store and outbox),
recording every proposal as it arrives, redeliveries included. `raw_client`
is a bare paho client that publishes whatever bytes a hostile peer would.
`hub_figures` reads the hub's store once the hub has stopped.

`scripts/bench_faults.py` uses the same parts, so these are plain classes, not fixtures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge.clock import SystemClock
from edge.config import RelaySettings
from edge.mqtt.client import PahoRelay
from edge.mqtt.links import DesktopLink
from edge.mqtt.topics import HUB_STATUS, topic
from edge.records import Observation
from edge.store import Store
from edge.store.feedback import FeedbackStore
from edge.store.relay import inbound_stats
from tests.conftest import wait_for

PROACTIVE = Path(sys.executable).parent / "proactive"

SEARCH = "The user searches on Google for '{q}' after typing and clicking 'Enter'."
"""An event the shipped trigger fires on (P(help) about 0.8), with a query as its anchor."""
QUIET = "The user scrolls through the file notes_{i}.md in Visual Studio Code."
"""An event the shipped trigger stays silent on."""


@dataclass
class HubProcess:
    """``proactive run --json`` on ``home``, serving the broker at ``port``.

    ``embedded``: the hub runs its own amqtt broker on ``port`` (``relay.broker = "embedded"``);
    otherwise it connects to the broker there. ``args`` are extra flags (default: serve the desktops
    only), ``env`` extra variables (settings). `decisions` collects the JSON decision lines of every
    run of the process on this directory; `runs` the exit code of each finished run.
    """

    home: Path
    port: int
    embedded: bool = False
    args: list[str] = field(default_factory=lambda: ["--no-local"])
    env: dict[str, str] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None

    @property
    def store_file(self) -> Path:
        return self.home / "proactive.db"

    @property
    def log(self) -> Path:
        return self.home.parent / f"{self.home.name}.stderr"

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until it says its relay is up (its models are loaded by then)."""
        env = {
            **os.environ,
            "PROACTIVE_HOME": str(self.home),
            "PROACTIVE_DESKTOP": "hubhost",
            "PROACTIVE_RELAY__BROKER": "embedded" if self.embedded else "external",
            "PROACTIVE_RELAY__HOST": "127.0.0.1",
            "PROACTIVE_RELAY__PORT": str(self.port),
            "PROACTIVE_RELAY__RECONNECT_MIN_S": "0.1",
            "PROACTIVE_RELAY__RECONNECT_MAX_S": "0.5",
            "PROACTIVE_AGENT__MIN_INTERVAL_S": "0",
            "OMP_WAIT_POLICY": "PASSIVE",
            **self.env,
        }
        mark = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as err:
            self.proc = subprocess.Popen(
                [str(PROACTIVE), "run", "--json", *self.args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                encoding="utf-8",
            )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        wait_for(
            lambda: "relay: " in self.stderr(mark) or not self.alive,
            timeout,
            "proactive run to serve",
        )
        assert self.alive, f"proactive run exited with {self.proc.returncode}:\n{self.stderr(mark)}"

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                self.decisions.append(json.loads(line))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stderr(self, since: int = 0) -> str:
        """The hub's stderr from byte ``since`` on (earlier runs' output is not read again)."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace")

    def decided(self, event: str) -> int:
        """How many decisions were printed for the observation text ``event``, over every run."""
        return sum(1 for d in self.decisions if d["event"] == event)

    def wait_decided(self, events: list[str], timeout: float, step: Callable[[], None] | None = None) -> None:
        def done() -> bool:
            assert self.alive, f"the hub died:\n{self.stderr()[-3000:]}"
            return all(self.decided(e) for e in events)

        try:
            wait_for(done, timeout, f"{len(events)} decisions", step)
        except AssertionError as e:
            missing = [ev for ev in events if not self.decided(ev)]
            raise AssertionError(
                f"{e}; never decided: {missing}\nhub stderr:\n{self.stderr()[-3000:]}"
            ) from None

    def _finish(self) -> int:
        assert self.proc is not None
        rc = self.proc.wait(60)
        if self._reader is not None:
            self._reader.join(10)
        self.runs.append(rc)
        self.proc = None
        return rc

    def kill9(self) -> None:
        """SIGKILL: no shutdown path runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self._finish()

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit code (0 for a clean shutdown)."""
        if self.proc is None:
            return 0
        self.proc.terminate()
        try:
            return self._finish()
        except subprocess.TimeoutExpired:
            self.kill9()
            raise

    def rss_kb(self) -> int:
        """The process's resident memory (``VmRSS``) in kB, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS in /proc/{self.pid}/status")


@dataclass
class HubFigures:
    """What the hub stored, read after it stopped."""

    observations: Counter[str]
    """Observation text -> stored rows."""
    proposals: dict[str, list[str]]
    """Observation id -> the proposal ids made for it."""
    statuses: dict[str, str]
    """Proposal id -> its status."""
    verdicts: dict[str, int]
    results: int
    adaptations: Counter[tuple[str, str]]
    """(proposal id, kind) -> adaptations of that kind logged for it (one verdict: one each)."""
    inbound: dict[str, Any]
    """The relay's saved inbound counts, by owner (what `proactive status` shows)."""


def hub_figures(db: Path) -> HubFigures:
    store = Store.open(db)
    try:
        props: dict[str, list[str]] = {}
        statuses: dict[str, str] = {}
        for p in store.proposals(limit=100_000):
            props.setdefault(p["observation_id"], []).append(p["id"])
            statuses[p["id"]] = p["status"]
        adaptations = Counter(
            (a["proposal_id"], a["kind"]) for a in FeedbackStore(store).recent_adaptations(limit=100_000)
        )
        return HubFigures(
            Counter(o.text for o in store.observations()),
            props,
            statuses,
            store.verdict_counts(),
            store.count("results"),
            adaptations,
            inbound_stats(store),
        )
    finally:
        store.close()


class Desktop:
    """A companion on the broker: its own relay and store (the outbox survives the hub's deaths).

    Every proposal is recorded as it arrives (`proposals_seen`, redeliveries included); `proposals`
    keeps the first of each id. Pump it (`pump`) from the thread that uses it.
    """

    def __init__(self, tmp: Path, name: str, port: int, **relay: Any) -> None:
        settings = RelaySettings(
            broker="external",
            host="127.0.0.1",
            port=port,
            reconnect_min_s=0.1,
            reconnect_max_s=0.5,
            **relay,
        )
        self.name = name
        self.relay = PahoRelay(
            settings, Store.open(tmp / f"desktop-{name}.db"), "desktop", name, SystemClock()
        )
        self.proposals: dict[str, dict[str, Any]] = {}
        self.proposals_seen: list[dict[str, Any]] = []
        self.hub_states: list[str] = []
        self.relay.subscribe(
            topic(name, "proposal"), lambda d, k, p: self.proposals_seen.append(p), dedupe=False
        )
        self.relay.subscribe(HUB_STATUS, lambda d, k, p: self.hub_states.append(p["state"]), dedupe=False)
        self.link = DesktopLink(
            self.relay, name, SystemClock(), lambda p: self.proposals.setdefault(p["id"], p), lambda p: None
        )
        self.relay.start()
        assert self.relay.wait_connected(10), f"desktop {name} could not connect"

    def pump(self, seconds: float = 0.02) -> None:
        self.relay.pump(seconds)

    def send(self, text: str, i: int) -> Observation:
        """Forward one observation, as the companion does (stable id from desktop, source and key)."""
        now = time.time()
        o = Observation(text=text, time=f"{now:.3f}", ts=now, desktop=self.name, source="aw", key=f"e{i}")
        self.link.send_activity(o)
        return o

    def answer(self, proposal_id: str, verdict: str) -> None:
        self.link.send_feedback(proposal_id, verdict)

    def flush(self, timeout: float = 10.0) -> None:
        """Until the outbox is empty: everything sent was acknowledged by the broker."""
        assert self.relay.flush(timeout), f"desktop {self.name}: outbox not flushed"

    def close(self) -> None:
        self.relay.close()
        self.relay.store.close()


def raw_verdicts(port: int, desktop: str, proposal_id: str, verdicts: list[str]) -> None:
    """Answers to one proposal from a raw client, each under its own message id (as a confused or
    hostile client sends them: the relay's inbox sees no redelivery)."""
    c = raw_client(port, "verdicts")
    try:
        for i, verdict in enumerate(verdicts):
            fb = {"schema": 1, "id": f"verdict-{i}", "desktop": desktop, "proposal_id": proposal_id}
            fb |= {"verdict": verdict, "at": time.time()}
            publish(c, topic(desktop, "feedback"), json.dumps(fb).encode())
    finally:
        close(c)


def tear_down(hub: HubProcess, *desktops: Desktop) -> None:
    """A case's ``finally``: close the desktops, kill the hub if it still runs."""
    for d in desktops:
        d.close()
    if hub.alive:
        hub.kill9()


def raw_client(port: int, client_id: str) -> mqtt.Client:
    """A bare anonymous paho client, connected, its network loop running (`close` it)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    up = threading.Event()
    c.on_connect = lambda cl, ud, fl, rc, pr: up.set() if not rc.is_failure else None
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert up.wait(10), f"raw client {client_id} could not connect"
    return c


def publish(c: mqtt.Client, t: str, data: bytes, timeout: float = 30.0) -> None:
    """QoS 1, waiting for the broker's acknowledgement."""
    c.publish(t, data, qos=1).wait_for_publish(timeout)


def close(c: mqtt.Client) -> None:
    c.disconnect()
    c.loop_stop()
