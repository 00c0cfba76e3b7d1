"""Schema-1 payloads across versions: an older companion's activity, a faulty structured activity
(taken with defaults, logged once per desktop), a proposal with and without its anchor."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest

from edge.mqtt import payloads
from edge.mqtt.links import HubLink
from edge.mqtt.payloads import activity_payload, anchor_of, decode, observation_of, proposal_payload
from edge.mqtt.topics import HUB, topic
from edge.records import Activity, AgentResponse, Anchor, Decision, Observation
from edge.store import Store
from tests.doubles import FakeClock, MemoryBus, MemoryRelay, obs

NOW = 1_700_000_100.0


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no desktop logged yet (the set is per process)."""
    monkeypatch.setattr(payloads, "_ACTIVITY_WARNED", set())


def activity_bytes(o: Observation, activity: Any = "keep") -> bytes:
    """The activity payload a companion sends for ``o``; ``activity`` replaces its structured part."""
    p = activity_payload(o, NOW)
    if activity is None:
        del p["observation"]["activity"]
    elif activity != "keep":
        p["observation"]["activity"] = activity
    return json.dumps(p).encode()


def received(o: Observation, activity: Any = "keep") -> Observation:
    desktop, _, payload = decode(topic(o.desktop, "activity"), activity_bytes(o, activity))
    return observation_of(payload, desktop)


BAD = {**Activity(verb="search", object_kind="query", object_text="pandas groupby").to_dict(), "mood": "x"}
BAD["verb"] = "teleport"
BAD["dwell_s"] = "long"
del BAD["gap_s"]


def test_an_older_companion_sends_no_activity_and_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.mqtt"):
        got = received(obs("The user searches for pandas groupby", desktop="old"), activity=None)
        null = received(obs("The user opens notes.md", 1, desktop="old"))
    assert got.text == "The user searches for pandas groupby" and got.desktop == "old"
    assert got.activity is None and null.activity is None
    assert caplog.records == []


def test_a_current_companion_s_activity_arrives_whole(caplog: pytest.LogCaptureFixture) -> None:
    act = Activity(verb="search", object_kind="query", object_text="pandas groupby", gap_s=4.0)
    with caplog.at_level(logging.WARNING, logger="edge.mqtt"):
        got = received(replace(obs("The user searches for pandas groupby", desktop="new"), activity=act))
    assert got.activity == act and caplog.records == []


def test_bad_activity_fields_take_defaults_and_are_named(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.mqtt"):
        got = received(obs("The user searches for pandas groupby", desktop="odd"), activity=BAD)
    assert got.activity == Activity(object_kind="query", object_text="pandas groupby")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "desktop odd" in line
    assert "unknown mood; missing gap_s; invalid verb, dwell_s; defaults used" in line


def test_an_activity_that_is_not_an_object_leaves_the_sentence_to_parse(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.mqtt"):
        got = received(obs("The user opens notes.md", desktop="odd"), activity=["search"])
    assert got.activity is None and got.text == "The user opens notes.md"
    assert "is a list, not an object" in caplog.text


def test_the_hub_logs_a_faulty_activity_once_per_desktop(caplog: pytest.LogCaptureFixture) -> None:
    clock, bus = FakeClock(NOW), MemoryBus()
    hub = MemoryRelay(bus, Store.memory(), HUB, HUB, clock)
    link = HubLink(hub, clock)
    hub.start()
    with caplog.at_level(logging.WARNING, logger="edge.mqtt"):
        for i in range(3):
            for desk in ("alice", "bob"):
                o = obs(f"The user searches for item {i}", i, desktop=desk)
                bus.deliver(topic(desk, "activity"), activity_bytes(o, BAD), False)
        got = link.fetch()
    assert len(got) == 6 and all(o.activity is not None and o.activity.verb == "other" for o in got)
    lines = [r.getMessage() for r in caplog.records if "structured activity" in r.getMessage()]
    assert len(lines) == 2, lines
    assert any("desktop alice" in x for x in lines) and any("desktop bob" in x for x in lines)
    assert hub.dropped == 0


def decision(anchor: Anchor | None, p_help: float | None) -> Decision:
    o = obs("The user searches for pandas groupby", desktop="alice")
    return Decision(
        observation=o,
        proposed=True,
        task="Find an answer to 'pandas groupby'",
        score=0.8,
        latency_ms=5.0,
        response=AgentResponse("p", "t", "Find an answer to 'pandas groupby'", "Shall I?"),
        proposal_id="p1",
        p_help=p_help,
        anchor=anchor,
        created_at=NOW,
        expires_at=NOW + 60,
    )


def test_a_proposal_carries_its_anchor_and_p_help() -> None:
    p = proposal_payload(decision(Anchor("query", "pandas groupby"), 0.734567))
    assert p["anchor"] == {"kind": "query", "text": "pandas groupby"} and p["p_help"] == 0.7346
    _, _, back = decode(topic("alice", "proposal"), json.dumps(p).encode())
    assert anchor_of(back) == Anchor("query", "pandas groupby")
    bare = proposal_payload(decision(None, None))
    assert bare["anchor"] is None and bare["p_help"] is None and anchor_of(bare) is None


@pytest.mark.parametrize("anchor", [None, "query", {"kind": "query"}, {"kind": 3, "text": "x"}, {}])
def test_a_proposal_without_a_usable_anchor_still_decodes(anchor: Any) -> None:
    p = proposal_payload(decision(None, None))
    if anchor is None:
        del p["anchor"], p["p_help"]  # an older hub
    else:
        p["anchor"] = anchor
    _, kind, back = decode(topic("alice", "proposal"), json.dumps(p).encode())
    assert kind == "proposal" and anchor_of(back) is None
