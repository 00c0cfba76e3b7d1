"""The hub as one composition root, over the in-memory bus: proposals out, feedback in, results out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.config import Settings
from edge.hub import Hub
from edge.mqtt.links import DesktopLink, RelaySink
from edge.mqtt.payloads import proposal_payload, result_payload
from edge.mqtt.topics import HUB
from edge.store import Store
from tests.doubles import FakeClock, MemoryBus, MemoryRelay, QueuedLLM, obs, response

pytestmark = pytest.mark.integration  # the feedback's similarity loads the shipped MiniLM


def settings() -> Settings:
    """The LLM decides at every event (no trigger): these tests are about the relay's side."""
    return Settings(
        desktop="hubhost",
        memory={"enabled": False},
        relay={"proposal_ttl_s": 60.0},
        trigger={"enabled": False},
    )


class Desk:
    """A companion's side on the bus, recording what it receives."""

    def __init__(self, bus: MemoryBus, clock: FakeClock) -> None:
        self.relay = MemoryRelay(bus, Store.memory(), "desktop", "alice", clock)
        self.proposals: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.link = DesktopLink(self.relay, "alice", clock, self.proposals.append, self.results.append)
        self.relay.start()


def test_propose_accept_and_ignore_over_the_memory_bus(tmp_path: Path) -> None:
    clock, bus = FakeClock(), MemoryBus()
    llm = QueuedLLM(
        [
            response("Summarise the quarterly report", say="Shall I?"),
            "- revenue up 4%",
            response("Make a checklist for the release"),
        ]
    )
    relay = MemoryRelay(bus, Store.memory(), HUB, HUB, clock)
    with Hub(
        settings(), db_path=tmp_path / "hub.db", clock=clock, llm=llm, use_gate=False, relay=relay
    ) as hub:
        assert hub.start() == [] and hub.broker is None
        assert hub.relay is relay and hub.feedback is not None and hub.link is not None
        assert any(isinstance(s, RelaySink) for s in hub.loop.sinks)
        desk = Desk(bus, clock)

        def decide() -> list[Any]:
            desk.relay.pump(0)
            out = [hub.loop.step(o) for o in hub.tick(0)]
            desk.relay.pump(0)
            return out

        decide()
        assert hub.link.desktops["alice"]["state"] == "online"

        # a proposal goes out stamped by the loop: created_at now, expires_at now + the configured TTL
        desk.link.send_activity(obs("The user opens quarterly_report.pdf", 1, "alice"))
        (d,) = decide()
        assert d.proposed and (d.created_at, d.expires_at) == (clock.now(), clock.now() + 60.0)
        assert desk.proposals == [proposal_payload(d)]

        # accepted: the feedback room writes the help, the hub publishes it as result_payload builds it
        clock.advance(5)
        desk.link.send_feedback(d.proposal_id or "", "accepted")
        decide()
        assert desk.results == [
            result_payload(
                d.proposal_id or "",
                "alice",
                "summary",
                "- revenue up 4%",
                clock.now(),
                "Summarise the quarterly report",
            )
        ]
        assert hub.store.count("results") == 1

        # not answered: past expires_at + grace it counts as ignored, and the next proposal waits longer
        desk.link.send_activity(obs("The user edits RELEASE_NOTES.md", 2, "alice"))
        (d2,) = decide()
        assert d2.proposed
        clock.advance(60.0 + hub.settings.feedback.expiry_grace_s + 1)
        decide()
        assert hub.store.get_proposal(d2.proposal_id or "")["status"] == "ignored"  # type: ignore[index]
        adapt = hub.feedback.adaptation("alice")
        assert adapt.interval_extra_s == pytest.approx(120, abs=1) and adapt.trigger_offset < 0
        desk.link.send_activity(obs("The user writes an e-mail about Friday", 3, "alice"))
        (d3,) = decide()
        assert not d3.llm_called and not d3.proposed and d3.reason.startswith("resting")
        assert hub.status()["feedback"]["desktops"]["alice"]["interval_extra_s"] == pytest.approx(120, abs=1)
        assert not llm.replies


def test_a_hub_without_the_relay_only_decides(tmp_path: Path) -> None:
    llm = QueuedLLM([response("Explain the error")])
    with Hub(settings(), db_path=tmp_path / "hub.db", llm=llm, use_gate=False) as hub:
        assert hub.relay is None and hub.feedback is None and hub.loop.sinks == []
        assert hub.loop.step(obs("stuck", 1)).proposed
        with pytest.raises(RuntimeError, match="without the relay"):
            hub.tick(0)
