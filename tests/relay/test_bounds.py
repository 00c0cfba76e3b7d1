"""Bounded inbound (issue 13, item 3): a flood on a real broker while the hub is busy cannot grow
its memory, and the hub keeps serving afterwards.

100 payloads of 10 MB sent while the hub was in an LLM call raised its peak to 1.2 GB: paho queued
them before the 256 kB check. Now a payload over `MAX_PAYLOAD` is dropped in paho's callback, and
the event queue refuses the newest message once it holds its bound in messages or bytes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.commands.relay import status_info
from edge.mqtt.client import PahoRelay
from edge.mqtt.payloads import MAX_PAYLOAD
from edge.mqtt.topics import HUB, topic
from edge.store import Store
from tests.doubles import FakeClock, MemoryBus, MemoryRelay, response
from tests.relay.conftest import BrokerHandle
from tests.relay.helpers import make_rig, obs

pytestmark = pytest.mark.integration

OVERSIZED, BIG = 12, 60
"""Payloads over the limit (1 MB each), and payloads within it (100 kB each) that fill the queue."""


def test_a_flood_while_the_hub_is_busy_stays_bounded(broker: BrokerHandle, tmp_path: Path) -> None:
    rig = make_rig(tmp_path, broker.port, llm_replies=[response(None)])
    relay = rig.hub.relay
    assert isinstance(relay, PahoRelay)
    relay.max_queue_messages, relay.max_queue_bytes = 40, 1_000_000
    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood")
    raw.connect("127.0.0.1", broker.port)
    raw.loop_start()
    try:
        # the hub is busy (nobody pumps): every message meets the bounds in paho's thread
        for _ in range(OVERSIZED):
            raw.publish(topic("alice", "activity"), b"{" + b" " * 1_000_000 + b"}", qos=1).wait_for_publish(
                10
            )
        for _ in range(BIG):
            raw.publish(topic("alice", "activity"), b"[" + b"0," * 50_000 + b"0]", qos=1).wait_for_publish(10)

        def inbound() -> dict[str, Any]:
            return relay.inbound_stats()

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st = inbound()
            if (
                st["drops"]["oversized"] == OVERSIZED
                and st["drops"]["queue_full"] + st["queue"]["messages"] == BIG
            ):
                break
            time.sleep(0.05)
        st = inbound()
        assert st["drops"]["oversized"] == OVERSIZED
        assert st["queue"]["bytes"] <= 1_000_000 and st["queue"]["peak_bytes"] <= 1_000_000
        assert st["drops"]["queue_full"] == BIG - st["queue"]["messages"] > 0
        assert st["queue"]["messages"] == 1_000_000 // 100_003  # what fits, in the order it came

        # the hub catches up: what was queued is decoded and dropped as invalid, then it serves again
        rig.pump(lambda: inbound()["queue"]["messages"] == 0)
        assert inbound()["drops"]["invalid"] == 1_000_000 // 100_003
        rig.companion.forward([obs("The user opens a terminal", 1, "alice")])
        rig.pump(lambda: len(rig.decisions) == 1)
        assert rig.decisions[0].llm_called and relay.connected
        relay.save_stats()
        saved = status_info(rig.hub.settings, tmp_path / "hub.db")["relay"]["inbound"][relay.owner]
        assert saved["drops"]["oversized"] == OVERSIZED and saved["dropped"] == relay.dropped
    finally:
        raw.loop_stop()
        raw.disconnect()
        rig.close()


def test_an_oversized_payload_is_dropped_before_it_is_queued() -> None:
    """In the core itself: the size is checked before the queue sees the message."""
    relay = MemoryRelay(MemoryBus(), Store.memory(), HUB, HUB, FakeClock(0.0))
    assert not relay.post_message(topic("alice", "activity"), b"x" * (MAX_PAYLOAD + 1))
    assert relay.post_message(topic("alice", "activity"), json.dumps({"a": 1}).encode())
    st = relay.inbound_stats()
    assert st["drops"]["oversized"] == 1 and st["queue"]["messages"] == 1 and st["queue"]["bytes"] == 8
