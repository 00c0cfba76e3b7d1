"""One verdict per proposal, the first wins (issue 13, item 4): six answers to one proposal under
six message ids were all recorded, the status flipped accepted -> rejected -> ignored and the
trigger's bar was raised twice."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from edge.config import Settings
from edge.hub import Hub
from edge.mqtt.topics import HUB, topic
from edge.records import AgentResponse
from edge.store import Store
from tests.doubles import FakeClock, MemoryBus, MemoryRelay, QueuedLLM, obs, response

pytestmark = pytest.mark.integration  # the feedback's similarity loads the shipped MiniLM

NOW = 1_700_000_100.0


def test_six_verdicts_for_one_proposal_only_the_first_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock, bus = FakeClock(NOW), MemoryBus()
    settings = Settings(desktop="hubhost", memory={"enabled": False}, trigger={"enabled": False})
    llm = QueuedLLM([response("Summarise the quarterly report"), "- revenue up 4%"])
    relay = MemoryRelay(bus, Store.memory(), HUB, HUB, clock)
    with Hub(settings, db_path=tmp_path / "hub.db", clock=clock, llm=llm, use_gate=False, relay=relay) as hub:
        hub.start()
        assert hub.feedback is not None
        activity = {
            "schema": 1,
            "id": "a1",
            "desktop": "alice",
            "observation": {"text": "The user opens quarterly_report.pdf", "time": "1", "ts": NOW},
        }
        bus.deliver(topic("alice", "activity"), json.dumps(activity).encode(), False)
        (d,) = [hub.loop.step(o) for o in hub.tick(0)]
        assert d.proposed and d.proposal_id
        with caplog.at_level(logging.WARNING, logger="edge.feedback"):
            for i, verdict in enumerate(
                ["accepted", "rejected", "ignored", "rejected", "accepted", "ignored"]
            ):
                clock.advance(1)
                fb = {
                    "schema": 1,
                    "id": f"fb-{i}",  # a new id each time: the inbox does not see them as redeliveries
                    "desktop": "alice",
                    "proposal_id": d.proposal_id,
                    "verdict": verdict,
                    "at": clock.now(),
                }
                bus.deliver(topic("alice", "feedback"), json.dumps(fb).encode(), False)
                hub.tick(0)
        prop = hub.store.get_proposal(d.proposal_id)
        assert prop is not None and prop["status"] == "accepted"
        assert hub.store.verdict_counts() == {"accepted": 1}
        assert hub.store.count("results") == 1 and not llm.replies  # carried out once
        applied = [a for a in hub.feedback.status()["recent"] if a["proposal_id"] == d.proposal_id]
        assert sorted(a["kind"] for a in applied) == ["result", "trigger"]  # one raise, one result
        ignored = [r.getMessage() for r in caplog.records if "the first verdict wins" in r.getMessage()]
        assert len(ignored) == 5 and all("already answered accepted" in line for line in ignored)
        results = [t for t, _ in bus.published if t == topic("alice", "result")]
        assert len(results) == 1


def test_the_store_keeps_the_first_verdict_under_any_id() -> None:
    store = Store.memory()
    o = obs("The user opens a.pdf", 1, "alice")
    store.add_observation(o, NOW)
    store.add_proposal("p1", o, AgentResponse("p", "t", "Summarise a.pdf", "Shall I?"), 0.8, NOW, 60)
    assert store.add_feedback("f1", "p1", "rejected", "alice", NOW + 1)
    assert not store.add_feedback("f2", "p1", "accepted", "alice", NOW + 2)
    assert not store.add_feedback("f1", "p1", "accepted", "alice", NOW + 3)
    assert store.get_proposal("p1")["status"] == "rejected"  # type: ignore[index]
    assert store.verdict_counts() == {"rejected": 1}
