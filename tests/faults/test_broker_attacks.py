"""Attacks through the broker on a real `proactive run`: a desktop's login taking the hub's client id,
and a flood of 10 MB payloads while the hub is busy in an LLM call.

tests/relay/test_takeover.py and test_bounds.py prove each on the relay in process; here the hub is
the process systemd runs, and the desktop sees what a user would: the hub never flaps, and it
decides the desktop's next events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.mqtt.mosquitto import MosquittoFiles
from edge.mqtt.topics import topic
from tests.faults.conftest import Served
from tests.faults.harness import (
    QUIET,
    SEARCH,
    Desktop,
    close,
    hub_figures,
    publish,
    raw_client,
    tear_down,
    wait_for,
)
from tests.relay.conftest import Mosquitto
from tests.relay.test_takeover import _takeovers

pytestmark = pytest.mark.integration

FLOOD, FLOOD_MB = 30, 10


def test_a_desktop_login_cannot_kick_a_running_hub_off(
    house: tuple[MosquittoFiles, int, int], tmp_path: Path
) -> None:
    files, port, local = house
    pw = files.credentials
    env = {"PROACTIVE_RELAY__USERNAME": "hub", "PROACTIVE_RELAY__PASSWORD": pw["hub"]}
    hub = Served("mosquitto", local).hub(tmp_path, env=env)  # the hub's loopback listener, its own user
    hub.start()
    bob = Desktop(tmp_path, "bob", port, username="bob", password=pw["bob"])
    try:
        wait_for(lambda: bool(bob.hub_states), 10, "the hub's retained status", bob.pump)
        assert set(bob.hub_states) == {"online"}  # the retained status, once per subscription to it
        # alice, with her own login, asks for the hub's client id, and then for bob's
        assert _takeovers(port, "alice", pw["alice"], "proactive-hub-hub", 20) == 20
        _takeovers(port, "alice", pw["alice"], "proactive-desktop-bob", 5)
        sent = [QUIET.format(i=i) for i in range(3)]
        for i, text in enumerate(sent):
            bob.send(text, i)
        hub.wait_decided(sent, 30, bob.pump)
        assert "offline" not in bob.hub_states, f"bob saw the hub flap: {bob.hub_states}"
        assert bob.relay.connects == 1, "bob was kicked off"
        assert hub.stop() == 0
    finally:
        tear_down(hub, bob)
    assert hub_figures(hub.store_file).observations == dict.fromkeys(sent, 1)


def test_a_flood_of_10_mb_payloads_while_the_hub_is_busy(mosquitto: Any, tmp_path: Path) -> None:
    """On a broker without a size limit (the test fixture's mosquitto; the generated configuration
    refuses these itself, see tests/relay/test_takeover.py): the hub drops each before queueing it,
    and decides the desktop's events after. Its memory is measured by scripts/bench_faults.py."""
    broker: Mosquitto = mosquitto()
    hub = Served("mosquitto", broker.port).hub(tmp_path)
    hub.start()
    desk = Desktop(tmp_path, "alice", broker.port)
    flood = raw_client(broker.port, "flood")
    try:
        busy = SEARCH.format(q="pandas merge on two columns")  # an LLM call: nobody pumps the relay
        desk.send(busy, 0)
        desk.flush()
        blob = b"{" + b" " * (FLOOD_MB * 1_000_000) + b"}"
        for _ in range(FLOOD):
            publish(flood, topic("alice", "activity"), blob)
        after = [QUIET.format(i=i) for i in range(1, 4)]
        for i, text in enumerate(after, start=1):
            desk.send(text, i)
        hub.wait_decided([busy, *after], 60, desk.pump)
        assert hub.stop() == 0
    finally:
        close(flood)
        tear_down(hub, desk)
    f = hub_figures(hub.store_file)
    assert f.observations == dict.fromkeys([busy, *after], 1)
    drops = f.inbound["proactive-hub-hub"]["drops"]
    assert drops["oversized"] == FLOOD and drops["queue_full"] == 0, drops
