"""The embedded broker when several clients connect at once, as the desktops do when the hub restarts.

amqtt 0.12.1 walks its subscription table across ``await``s while it sends a connecting client the
retained messages (the hub's status is one); a client subscribing meanwhile made the walk raise,
and the connecting client's session died before its message loop started: connected, yet deaf and
mute. Found by the kill -9 cases on the embedded broker (a traceback in the hub's stderr); fixed in
`edge.mqtt.broker` by walking a copy.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest

from edge.mqtt.broker import EmbeddedBroker
from edge.mqtt.topics import KINDS
from tests.conftest import free_port
from tests.faults.harness import close, publish, raw_client

pytestmark = pytest.mark.integration

ROUNDS, AT_ONCE, RETAINED = 6, 3, 40


def subscriber(
    port: int, client_id: str, filters: list[str]
) -> tuple[mqtt.Client, list[str], threading.Event]:
    """A client that subscribes to ``filters`` as soon as it is connected; what it receives, and when
    its subscriptions are acknowledged."""
    got: list[str] = []
    subscribed = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.on_connect = lambda cl, ud, fl, rc, pr: [cl.subscribe(f, qos=1) for f in filters]
    c.on_subscribe = lambda *a: subscribed.set()
    c.on_message = lambda cl, ud, m: got.append(m.topic)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, got, subscribed


def test_clients_connecting_at_once_are_all_served(caplog: pytest.LogCaptureFixture) -> None:
    broker = EmbeddedBroker("127.0.0.1", free_port())
    broker.start()
    pub = raw_client(broker.port, "publisher")
    clients: list[mqtt.Client] = []
    try:
        # retained messages on filters someone holds (every desktop's status): each new session walks
        # the filters as it starts, sending it their retained messages
        statuses = [f"proactive/v1/d{i}/status" for i in range(RETAINED)]
        for t in statuses:
            pub.publish(t, b"online", qos=1, retain=True).wait_for_publish(5)
        holder, _, ready = subscriber(broker.port, "holder", statuses)
        clients.append(holder)
        assert ready.wait(10)
        deaf: list[str] = []
        for r in range(ROUNDS):
            batch = [
                subscriber(broker.port, f"desk-{r}-{k}", [f"proactive/v1/r{r}k{k}/{kind}" for kind in KINDS])
                for k in range(AT_ONCE)
            ]
            clients += [c for c, _, _ in batch]
            for k, (_, _, subscribed) in enumerate(batch):
                if not subscribed.wait(5):
                    deaf.append(f"desk-{r}-{k} (no SUBACK)")
            for k in range(AT_ONCE):
                publish(pub, f"proactive/v1/r{r}k{k}/proposal", b"{}")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not all(
                any(t.endswith("/proposal") for t in got) for _, got, _ in batch
            ):
                time.sleep(0.02)
            deaf += [
                f"desk-{r}-{k}"
                for k, (_, got, _) in enumerate(batch)
                if not any(t.endswith("/proposal") for t in got)
            ]
        assert deaf == [], f"connected but never served: {deaf}"
        assert "dictionary changed size" not in caplog.text
    finally:
        for c in clients:
            close(c)
        close(pub)
        broker.stop()
