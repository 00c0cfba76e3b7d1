"""The generated mosquitto set-up on a real mosquitto (issue 13, items 3 and 6): a desktop's login
cannot take the hub's client id, and payloads over the limit never reach anyone.

With desktop a's credentials, connecting as ``proactive-hub-hub`` kicked the hub off the broker
(20 takeovers in 15 s) and desktop b saw the hub flap online/offline.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.clock import SystemClock
from edge.mqtt.client import PahoRelay
from edge.mqtt.mosquitto import MosquittoFiles, write_mosquitto_files
from edge.mqtt.payloads import MAX_PAYLOAD
from edge.mqtt.topics import HUB, HUB_STATUS, topic
from edge.store import Store
from tests.conftest import free_port
from tests.relay.conftest import Mosquitto, need_mosquitto
from tests.relay.helpers import relay_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def house(tmp_path: Path) -> Iterator[tuple[MosquittoFiles, int, int]]:
    """mosquitto started with `proactive broker acl`'s own files: (files, desktops' port, hub's port)."""
    need_mosquitto()
    port, local = free_port(), free_port()
    files = write_mosquitto_files(
        ["alice", "bob"], tmp_path / "mq", port=port, bind="127.0.0.1", local_port=local
    )
    conf = files.conf.read_text().replace("persistence true", "persistence false")
    if os.geteuid() == 0:  # as root mosquitto drops to user "mosquitto", who cannot read tmp_path
        conf += "user root\n"
    files.conf.write_text(conf + "log_dest stdout\n")
    m = Mosquitto(files.conf, port, tmp_path / "mosquitto.log")
    m.start()
    try:
        yield files, port, local
    finally:
        m.stop()


def _relay(tmp: Path, port: int, user: str, pw: str, role: str, name: str, **kw: Any) -> PahoRelay:
    s = relay_settings(port, username=user, password=pw, **kw)
    return PahoRelay(s, Store.open(tmp / f"{role}-{name}-{port}.db"), role, name, SystemClock())


def _takeovers(port: int, user: str, pw: str, client_id: str, times: int) -> int:
    """Connect ``times`` times as ``client_id`` with ``user``'s login; how many the broker accepted."""
    accepted = 0
    for _ in range(times):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        c.username_pw_set(user, pw)
        ok = threading.Event()
        c.on_connect = lambda cl, ud, fl, rc, pr, ok=ok: ok.set() if not rc.is_failure else None
        c.connect("127.0.0.1", port)
        c.loop_start()
        if ok.wait(5):
            accepted += 1
        time.sleep(0.05)
        c.disconnect()
        c.loop_stop()
    return accepted


def test_a_desktop_login_cannot_take_the_hub_s_client_id(
    house: tuple[MosquittoFiles, int, int], tmp_path: Path
) -> None:
    files, port, local = house
    pw = files.credentials
    hub = _relay(tmp_path, local, "hub", pw["hub"], HUB, HUB)  # client id proactive-hub-hub
    # the dashboard shares the hub's login on the hub's machine: both keep their own ids
    dashboard = _relay(tmp_path, local, "hub", pw["hub"], "desktop", "dashboard-hubhost")
    bob = _relay(tmp_path, port, "bob", pw["bob"], "desktop", "bob")
    seen: list[str] = []
    bob.subscribe(HUB_STATUS, lambda d, k, p: seen.append(p["state"]), dedupe=False)
    got: list[str] = []
    bob.subscribe(topic("bob", "proposal"), lambda d, k, p: got.append(p["id"]))
    clients = [hub, dashboard, bob]
    for c in clients:
        c.start()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for c in clients:
                c.pump(0.01)

    try:
        assert hub.wait_connected(10) and dashboard.wait_connected(10) and bob.wait_connected(10)
        pump(0.5)
        assert seen == ["online"] and hub.connects == 1
        # alice, with her own login, asks for the hub's client id 20 times
        assert _takeovers(port, "alice", pw["alice"], "proactive-hub-hub", 20) == 20
        pump(1.0)
        assert hub.connected and hub.connects == 1, "the hub must not have been kicked off"
        assert dashboard.connected and dashboard.connects == 1
        assert seen == ["online"], f"bob saw the hub flap: {seen}"
        # and what the hub publishes still reaches bob
        now = time.time()
        proposal = {
            "schema": 1,
            "id": "p1",
            "desktop": "bob",
            "task": "t",
            "created_at": now,
            "expires_at": now + 60,
        }
        hub.publish(topic("bob", "proposal"), proposal, peer="bob")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            pump(0.05)
        assert got == ["p1"]

        # the control: where ids are not tied to users (the hub's loopback listener), the same
        # login does evict the hub. That is why desktops connect to the other listener only.
        _takeovers(local, "alice", pw["alice"], "proactive-hub-hub", 1)
        deadline = time.monotonic() + 10
        while hub.connects < 2 and time.monotonic() < deadline:
            pump(0.05)
        assert hub.connects >= 2
    finally:
        for c in clients:
            c.close()


def test_the_broker_refuses_payloads_over_the_limit(
    house: tuple[MosquittoFiles, int, int], tmp_path: Path
) -> None:
    files, port, local = house
    pw = files.credentials
    got: list[int] = []
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="proactive-spy")
    spy.username_pw_set("hub", pw["hub"])
    spy.on_message = lambda c, u, msg: got.append(len(msg.payload))
    subscribed = threading.Event()
    spy.on_subscribe = lambda *a: subscribed.set()
    spy.connect("127.0.0.1", local)
    spy.loop_start()
    alice = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alice")
    alice.username_pw_set("alice", pw["alice"])
    alice.connect("127.0.0.1", port)
    alice.loop_start()
    try:
        spy.subscribe(topic("alice", "activity"), qos=1)
        assert subscribed.wait(5)
        for size in (MAX_PAYLOAD + 1, 10 * MAX_PAYLOAD, MAX_PAYLOAD):
            alice.publish(topic("alice", "activity"), b"x" * size, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert got == [MAX_PAYLOAD], "only the payload within message_size_limit is forwarded"
    finally:
        for c in (spy, alice):
            c.disconnect()
            c.loop_stop()
