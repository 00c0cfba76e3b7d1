"""Hostile MQTT payloads (issue 13, items 1, 2, 5, 11): none crashes, stalls or poisons the hub.

Each payload below crashed the hub (a lone surrogate in an id or a text, ``"help_needed": "yes"``,
``"ts": [1, 2]``), poisoned its store for good (``"ts": "abc"``), or was taken although the schema
says otherwise (``"schema": true``, an empty text, a desktop that is not the topic's, a topic
level that is no desktop name). Now each is dropped with one log line naming the field, and
counted by reason; free text with a lone surrogate is repaired to U+FFFD instead.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from edge.commands.relay import status_info
from edge.config import Settings
from edge.hub import Hub
from edge.mqtt.links import HubLink
from edge.mqtt.payloads import PayloadError, TopicNameError, activity_payload, decode, observation_of
from edge.mqtt.topics import HUB, topic
from edge.store import Store
from tests.doubles import FakeClock, MemoryBus, MemoryRelay, QueuedLLM, obs, response

NOW = 1_700_000_100.0


def activity(desktop: str = "alice", text: str = "The user opens notes.md", **changes: Any) -> dict[str, Any]:
    """A valid activity payload of ``desktop``; ``changes`` replace fields (``obs__x`` the observation's)."""
    p = activity_payload(obs(text, 1, desktop), NOW)
    for key, value in changes.items():
        if key.startswith("obs__"):
            p["observation"][key[5:]] = value
        else:
            p[key] = value
    return p


def raw(payload: Any) -> bytes:
    """JSON as a peer may send it: ``ensure_ascii`` escapes a lone surrogate as ``\\ud800``."""
    return json.dumps(payload).encode()


# name -> (topic, payload bytes, what the log line says)
HOSTILE: dict[str, tuple[str, bytes, str]] = {
    "surrogate id": (
        topic("alice", "activity"),
        raw(activity(id="\ud800")),
        "id: Input should be a valid string",
    ),
    "help_needed yes": (
        topic("alice", "activity"),
        raw(activity(obs__help_needed="yes")),
        "observation.help_needed: Input should be a valid boolean",
    ),
    "ts list": (
        topic("alice", "activity"),
        raw(activity(obs__ts=[1, 2])),
        "observation.ts: Input should be a valid number",
    ),
    "ts text": (
        topic("alice", "activity"),
        raw(activity(obs__ts="abc")),
        "observation.ts: Input should be a valid number",
    ),
    "ts NaN": (topic("alice", "activity"), raw(activity(obs__ts=float("nan"))), "observation.ts"),
    "schema true": (topic("alice", "activity"), raw(activity(schema=True)), "schema: Input should be"),
    "schema 1.0": (topic("alice", "activity"), raw(activity(schema=1.0)), "schema: Input should be"),
    "empty text": (topic("alice", "activity"), raw(activity(obs__text="")), "observation.text"),
    "blank text": (topic("alice", "activity"), raw(activity(obs__text="  \n ")), "observation.text"),
    "huge text": (topic("alice", "activity"), raw(activity(obs__text="x" * 5000)), "observation.text"),
    "desktop mismatch": (
        topic("alice", "activity"),
        raw(activity(desktop="bob")),
        "desktop 'bob' does not match the topic's 'alice'",
    ),
    "sent_at text": (topic("alice", "activity"), raw(activity(sent_at="now")), "sent_at"),
    "deep nesting": (topic("alice", "activity"), b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "surrogate proposal_id": (
        topic("alice", "feedback"),
        raw(
            {
                "schema": 1,
                "id": "f1",
                "desktop": "alice",
                "proposal_id": "\udc80",
                "verdict": "accepted",
                "at": NOW,
            }
        ),
        "proposal_id: Input should be a valid string",
    ),
    "verdict number": (
        topic("alice", "feedback"),
        raw({"schema": 1, "id": "f2", "desktop": "alice", "proposal_id": "p", "verdict": 1, "at": NOW}),
        "verdict: Input should be",
    ),
}

BAD_NAMES = ["..", "hub", "-x", "a" * 300, "été pc", " ", "$SYS", "HUB", "a+b"]


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_each_hostile_payload_is_refused_with_its_reason(case: str) -> None:
    t, data, reason = HOSTILE[case]
    with pytest.raises(PayloadError) as e:
        decode(t, data)
    assert reason in str(e.value)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_topic_level_that_is_no_desktop_name_is_refused(name: str) -> None:
    with pytest.raises(TopicNameError):
        decode(topic(name, "activity"), raw(activity(desktop=name)))
    with pytest.raises(TopicNameError):
        decode(topic(name, "feedback"), b"{}")


def test_the_hub_s_own_status_topic_is_a_name_of_its_own() -> None:
    status = {"schema": 1, "id": "s", "role": "hub", "name": "hub", "state": "online", "at": NOW}
    assert decode(topic(HUB, "status"), raw(status))[:2] == (HUB, "status")


def test_a_lone_surrogate_in_free_text_is_repaired_not_refused() -> None:
    p = activity(text="The user types \udc80 in notes.md", obs__app="ed\ud800it", obs__key="k\udfff")
    p["observation"]["activity"] = {"verb": "type", "object_text": "notes\ud800.md", "app": ["x"]}
    desktop, _, payload = decode(topic("alice", "activity"), raw(p))
    o = observation_of(payload, desktop)
    assert o.text == "The user types \ufffd in notes.md" and o.app == "ed\ufffdit"
    assert o.activity is not None and o.activity.object_text == "notes\ufffd.md" and o.activity.app == ""
    for s in (o.text, o.app, o.key, o.id, o.activity.object_text):
        s.encode("utf-8")  # what hashing and SQLite do; raised UnicodeEncodeError before


def test_strict_types_keep_the_stored_values_of_the_right_type() -> None:
    _, _, payload = decode(topic("alice", "activity"), raw(activity(obs__ts=1_700_000_001)))
    o = observation_of(payload, "alice")
    assert isinstance(o.ts, float) and o.help_needed is None


@pytest.mark.integration  # the hub's memory and similarity load the shipped MiniLM
def test_the_hub_survives_every_hostile_message_and_counts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On the hub as `proactive run` builds it (memory on, the LLM at every event): every hostile
    payload and bad topic name is dropped and counted, nothing of them is stored, a repaired text
    is stored, the events that follow reach the LLM (a poisoned ``ts`` made that raise for good),
    and `proactive status --json` shows the counts."""
    clock, bus = FakeClock(NOW), MemoryBus()
    settings = Settings(desktop="hubhost", trigger={"enabled": False}, relay={"proposal_ttl_s": 60.0})
    llm = QueuedLLM([response(None) for _ in range(10)])
    relay = MemoryRelay(bus, Store.open(tmp_path / "hub.db"), HUB, HUB, clock)  # the hub's file
    with Hub(settings, db_path=tmp_path / "hub.db", clock=clock, llm=llm, use_gate=False, relay=relay) as hub:
        hub.start()
        decided = []

        def decide() -> None:
            for o in hub.tick(0):
                decided.append(hub.loop.step(o))

        with caplog.at_level(logging.WARNING, logger="edge.mqtt"):
            for t, data, _ in HOSTILE.values():
                bus.deliver(t, data, False)
            for name in BAD_NAMES:
                bus.deliver(topic(name, "activity"), raw(activity(desktop=name)), False)
            decide()
        assert decided == [] and hub.store.count("observations") == 0
        lines = [r.getMessage() for r in caplog.records if "dropped message" in r.getMessage()]
        assert len(lines) == len(HOSTILE) + len(BAD_NAMES)  # one line each
        stats = relay.stats()
        assert stats["drops"]["invalid"] == len(HOSTILE) and stats["drops"]["name"] == len(BAD_NAMES)
        assert stats["dropped"] == len(HOSTILE) + len(BAD_NAMES)

        # a repaired text, then ordinary events: all stored, all decided by the LLM
        bus.deliver(topic("alice", "activity"), raw(activity(text="The user types \udc80 here")), False)
        for i in range(2, 4):
            good = activity_payload(obs(f"The user searches for item {i}", i, "alice"), NOW)
            bus.deliver(topic("alice", "activity"), raw(good), False)
        decide()
        assert [d.llm_called for d in decided] == [True, True, True]
        assert decided[0].observation.text == "The user types \ufffd here"
        assert hub.store.count("observations") == 3
        relay.save_stats()
        info = status_info(settings, tmp_path / "hub.db")
    inbound = info["relay"]["inbound"]["memory-hub-hub"]
    assert inbound["dropped"] == len(HOSTILE) + len(BAD_NAMES)
    assert inbound["drops"]["name"] == len(BAD_NAMES) and inbound["last_drop"].startswith("name:")


def test_a_name_checked_hub_link_stores_nothing_under_a_bad_name() -> None:
    """Over the hub's link alone: a message on ``proactive/v1/hub/activity`` never becomes activity."""
    clock, bus = FakeClock(NOW), MemoryBus()
    relay = MemoryRelay(bus, Store.memory(), HUB, HUB, clock)
    link = HubLink(relay, clock)
    relay.start()
    for name in BAD_NAMES:
        bus.deliver(topic(name, "activity"), raw(activity(desktop=name)), False)
    bus.deliver(topic("alice", "activity"), raw(activity()), False)
    assert [o.desktop for o in link.fetch()] == ["alice"]
    assert relay.drops["name"] == len(BAD_NAMES)
