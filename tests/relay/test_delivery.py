"""Nothing is lost when the broker stops mid-stream; malformed payloads are dropped, the hub stays up."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.clock import SystemClock
from edge.mqtt.client import PahoRelay
from edge.mqtt.topics import HUB, topic
from edge.store import Store
from tests.doubles import response
from tests.relay.conftest import BrokerHandle
from tests.relay.helpers import make_rig, obs, relay_settings

pytestmark = pytest.mark.integration


def _proposal(i: int, desktop: str) -> dict[str, Any]:
    now = time.time()
    return {
        "schema": 1,
        "id": f"p{i:03d}",
        "desktop": desktop,
        "task": f"task {i}",
        "created_at": now,
        "expires_at": now + 600,
    }


def test_broker_restart_mid_stream_loses_nothing(broker: BrokerHandle, tmp_path: Path) -> None:
    settings = relay_settings(broker.port)
    clock = SystemClock()
    hub = PahoRelay(settings, Store.open(tmp_path / "hub.db"), HUB, HUB, clock)
    got_hub: list[str] = []
    hub.subscribe(topic("+", "activity"), lambda d, k, p: got_hub.append(p["id"]))
    hub.subscribe(
        topic("+", "status"), lambda d, k, p: p["state"] == "online" and hub.resend_to(d), dedupe=False
    )
    desk = PahoRelay(settings, Store.open(tmp_path / "desk.db"), "desktop", "alice", clock)
    got_desk: list[str] = []
    desk.subscribe(topic("alice", "proposal"), lambda d, k, p: got_desk.append(p["id"]))
    desk.subscribe(
        f"proactive/v1/{HUB}/status",
        lambda d, k, p: p["state"] == "online" and desk.resend_to(HUB),
        dedupe=False,
    )
    hub.start()
    desk.start()
    assert hub.wait_connected(10) and desk.wait_connected(10)

    def pump(seconds: float = 0.0) -> None:
        end = time.monotonic() + seconds
        while True:
            hub.pump(0.005)
            desk.pump(0.005)
            if time.monotonic() >= end:
                return

    n = 60
    for i in range(n):
        if i == 20:
            pump(0.2)
            broker.stop()  # mid-stream: some in flight, the next ones queue in the outboxes
        if i == 40:
            broker.start()
        hub.publish(
            topic("alice", "proposal"), _proposal(i, "alice"), peer="alice", expires_at=time.time() + 600
        )
        desk.publish(
            topic("alice", "activity"),
            {
                "schema": 1,
                "id": f"a{i:03d}",
                "desktop": "alice",
                "observation": {"text": f"e{i}", "time": str(i)},
            },
            peer=HUB,
        )
        pump(0.01)

    def settled() -> bool:  # everything delivered, and every delivery acknowledged to the sender
        queued = hub.outbox.counts().get("queued", 0) + desk.outbox.counts().get("queued", 0)
        return len(set(got_desk)) == n and len(set(got_hub)) == n and queued == 0

    deadline = time.monotonic() + 20
    while not settled() and time.monotonic() < deadline:
        pump(0.05)
    try:
        assert sorted(set(got_desk)) == [f"p{i:03d}" for i in range(n)]
        assert sorted(set(got_hub)) == [f"a{i:03d}" for i in range(n)]
        assert len(got_desk) == n and len(got_hub) == n, "duplicates must be dropped by id"
        assert hub.connects >= 2 and desk.connects >= 2
        assert hub.outbox.counts().get("queued", 0) == 0
    finally:
        hub.close()
        desk.close()


def test_outbox_survives_a_hub_restart_while_the_broker_is_down(amqtt_broker: Any, tmp_path: Path) -> None:
    """Queued with no broker, process gone, new process flushes on connect."""
    settings = relay_settings(amqtt_broker.port)
    amqtt_broker.stop()
    first = PahoRelay(settings, Store.open(tmp_path / "hub.db"), HUB, HUB)
    first.start()
    for i in range(5):
        first.publish(topic("alice", "proposal"), _proposal(i, "alice"), peer="alice")
    first.pump(0.2)
    assert first.outbox.counts() == {"queued": 5}
    first.close()
    amqtt_broker.start()
    desk = PahoRelay(settings, Store.open(tmp_path / "desk.db"), "desktop", "alice")
    got: list[str] = []
    desk.subscribe(topic("alice", "proposal"), lambda d, k, p: got.append(p["id"]))
    desk.start()
    assert desk.wait_connected(10)
    second = PahoRelay(settings, Store.open(tmp_path / "hub.db"), HUB, HUB)
    second.start()
    try:
        assert second.wait_connected(10) and second.flush(10)
        deadline = time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < deadline:
            desk.pump(0.05)
        assert sorted(got) == [f"p{i:03d}" for i in range(5)]
    finally:
        second.close()
        desk.close()


def test_malformed_payloads_are_dropped_and_the_hub_stays_up(
    broker: BrokerHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig(tmp_path, broker.port, llm_replies=[response(None)])
    relay = rig.hub.relay
    assert relay is not None
    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="vandal")
    raw.connect("127.0.0.1", broker.port)
    raw.loop_start()
    bad = [
        ("proactive/v1/alice/activity", b"\xff\xfe not utf-8"),
        ("proactive/v1/alice/activity", b"{not json"),
        ("proactive/v1/alice/activity", b"[1, 2]"),
        ("proactive/v1/alice/activity", json.dumps({"schema": 2, "id": "x"}).encode()),
        ("proactive/v1/alice/activity", json.dumps({"schema": 1, "desktop": "alice"}).encode()),
        (
            "proactive/v1/alice/activity",
            json.dumps({"schema": 1, "id": "y", "desktop": "bob", "observation": {}}).encode(),
        ),
        (
            "proactive/v1/alice/activity",
            json.dumps({"schema": 1, "id": "z", "desktop": "alice", "observation": {"text": 1}}).encode(),
        ),
        (
            "proactive/v1/alice/feedback",
            json.dumps(
                {"schema": 1, "id": "g", "desktop": "alice", "proposal_id": 5, "verdict": "accepted", "at": 1}
            ).encode(),
        ),
        ("proactive/v1/alice/activity", b""),
        (
            "proactive/v1/alice/feedback",
            json.dumps(
                {"schema": 1, "id": "f", "desktop": "alice", "proposal_id": "p", "verdict": "maybe", "at": 1}
            ).encode(),
        ),
        (
            "proactive/v1/alice/status",
            json.dumps({"schema": 1, "id": "s", "role": "desktop", "state": "dancing"}).encode(),
        ),
    ]
    try:
        with caplog.at_level(logging.WARNING, logger="edge.mqtt"):
            for t, payload in bad:
                raw.publish(t, payload, qos=1).wait_for_publish(5)
            # feedback for a proposal that does not exist: well-formed, dropped by the feedback room
            raw.publish(
                "proactive/v1/alice/feedback",
                json.dumps(
                    {
                        "schema": 1,
                        "id": "f2",
                        "desktop": "alice",
                        "proposal_id": "nope",
                        "verdict": "accepted",
                        "at": 1,
                    }
                ),
                qos=1,
            ).wait_for_publish(5)
            rig.pump(lambda: relay.dropped >= len(bad))
        assert relay.dropped == len(bad)
        reasons = " ".join(r.getMessage() for r in caplog.records)
        for why in (
            "not UTF-8 JSON",
            "not a JSON object",
            "schema 2",
            "id: Field required",
            "does not match",
            "verdict: Input should be",
            "state: Input should be",
            "proposal_id: Input should be a valid string",
        ):
            assert why in reasons
        # the hub is still up and handles the next good message
        rig.companion.forward([obs("The user opens a terminal", 1, "alice")])
        rig.pump(lambda: len(rig.decisions) == 1)
        assert rig.decisions[0].llm_called and relay.connected
    finally:
        raw.loop_stop()
        raw.disconnect()
        rig.close()
