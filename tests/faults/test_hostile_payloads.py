"""Hostile MQTT messages from a raw client against a real `proactive run`, on mosquitto and on the
hub's embedded broker: the hub stays up, stores none of them, counts each, and serves its desktops
after, across a restart too (a poisoned store made every later decision raise, for good).

The payloads are tests/relay/test_hostile.py's (issue 13's list), published over a real broker
instead of handed to the relay, plus what only a real peer sends: invalid UTF-8, a surrogate as
CESU bytes, an integer past 4300 digits, a payload over the size limit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.mqtt.payloads import MAX_PAYLOAD
from edge.mqtt.topics import topic
from tests.faults.conftest import Served
from tests.faults.harness import QUIET, SEARCH, Desktop, close, hub_figures, publish, raw_client, tear_down
from tests.relay.test_hostile import BAD_NAMES, HOSTILE, activity, raw

pytestmark = pytest.mark.integration

ALICE = topic("alice", "activity")
ON_THE_WIRE: dict[str, tuple[str, bytes]] = {
    "invalid UTF-8": (ALICE, b'{"schema": 1, "id": "\xff\xfe"}'),
    "surrogate as CESU bytes": (
        ALICE,
        json.dumps(activity(text="The user types \ud800"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        ),
    ),
    "integer past 4300 digits": (ALICE, b'{"schema": 1, "id": ' + b"7" * 5000 + b"}"),
    "oversized": (ALICE, raw(activity(obs__key="k" * MAX_PAYLOAD))),
    "status garbage": (topic("alice", "status"), b'{"schema": 1, "id": "s", "role": "god", "state": "up"}'),
    "feedback for no proposal": (
        topic("alice", "feedback"),
        raw(
            {
                "schema": 1,
                "id": "f",
                "desktop": "alice",
                "proposal_id": "nope",
                "verdict": "accepted",
                "at": 1.0,
            }
        ),
    ),
}
NAMES = [n for n in BAD_NAMES if not set(n) & set("+#")]
"""A wildcard cannot be in a topic one publishes to: paho and the brokers refuse it themselves."""
REPAIRED = "The user types \udc80 in notes.md"


def test_hostile_messages_on_a_real_broker_leave_the_hub_serving(served: Served, tmp_path: Path) -> None:
    hub = served.hub(tmp_path)
    hub.start()
    desk = Desktop(tmp_path, "alice", served.port)
    attacker = raw_client(served.port, "attacker")
    try:
        for t, data, _ in HOSTILE.values():
            publish(attacker, t, data)
        for name in NAMES:
            publish(attacker, topic(name, "activity"), raw(activity(desktop=name)))
        for t, data in ON_THE_WIRE.values():
            publish(attacker, t, data)
        publish(attacker, ALICE, raw(activity(text=REPAIRED, obs__key="repaired")))
        # then the desktop's ordinary events, one of them reaching the LLM and the memory
        good = [QUIET.format(i=1), SEARCH.format(q="pandas merge on two columns"), QUIET.format(i=2)]
        for i, text in enumerate(good):
            desk.send(text, i)
        hub.wait_decided(good, 60, desk.pump)
        assert hub.decided(REPAIRED.replace("\udc80", "\ufffd")) == 1
        assert hub.stop() == 0
        inbound = hub_figures(hub.store_file).inbound["proactive-hub-hub"]  # what `proactive status` shows

        # the store is not poisoned: a restart decides again, LLM and memory included
        hub.start()
        after = SEARCH.format(q="pandas merge with suffixes")
        desk.send(after, 10)
        hub.wait_decided([after], 60, desk.pump)
        assert hub.stop() == 0
    finally:
        close(attacker)
        tear_down(hub, desk)

    assert hub_figures(hub.store_file).observations == {
        REPAIRED.replace("\udc80", "\ufffd"): 1,
        **dict.fromkeys([*good, after], 1),
    }
    drops = inbound["drops"]
    assert drops["name"] == len(NAMES)
    # every hostile payload once; not the repaired text, nor the verdict for no proposal (valid, and
    # left to the feedback room, which knows no such proposal)
    invalid = len(HOSTILE) + len(ON_THE_WIRE) - 2
    assert drops["oversized"] == 1 and drops["invalid"] == invalid, drops
    assert drops["handler"] == 0
    err = hub.stderr()
    assert err.count("dropped message") == len(HOSTILE) + len(NAMES) + len(ON_THE_WIRE) - 1
    assert "Traceback" not in err and hub.runs == [0, 0]
