from __future__ import annotations

import pytest

from edge.agent import Agent
from edge.clock import FakeClock
from edge.config import Settings
from edge.errors import ModelError
from edge.loop import Loop
from edge.records import Adaptation
from edge.store import Store
from tests.doubles import ListSink, QueuedLLM, RuleGate, obs, response


def make(replies, gate=None, **kw):
    llm = QueuedLLM(replies)
    store = Store.memory()
    sink = ListSink()
    loop = Loop(Agent(llm), FakeClock(), store=store, gate=gate, sinks=[sink], **kw)
    return loop, llm, store, sink


def test_without_gate_every_event_asks_the_llm() -> None:
    loop, llm, store, sink = make([response("Explain the error"), response(None)])
    d1 = loop.step(obs("a", 1))
    d2 = loop.step(obs("b", 2))
    assert d1.proposed and d1.task == "Explain the error" and d1.score is None and d1.llm_called
    assert not d2.proposed and d2.llm_called
    assert len(sink.sent) == 1 and store.count("proposals") == 1 and store.count("observations") == 2
    assert set(d1.to_json()) == {"time", "event", "proposed", "task", "score", "latency_ms"}


def test_gate_keeps_the_llm_silent_when_silence_is_likely() -> None:
    gate = RuleGate({"stuck": 0.1}, task_score=0.8)
    loop, llm, _, sink = make([response("Help with the bug")], gate=gate)
    quiet = loop.step(obs("typing", 1))
    helped = loop.step(obs("stuck", 2))
    assert not quiet.llm_called and quiet.score == pytest.approx(0.9)
    assert helped.llm_called and helped.proposed and helped.score == pytest.approx(0.8)
    assert len(llm.calls) == 1 and len(sink.sent) == 1


def test_task_below_threshold_is_not_proposed() -> None:
    gate = RuleGate({"stuck": 0.1}, task_score=0.2)
    loop, _, store, sink = make([response("Meh")], gate=gate)
    d = loop.step(obs("stuck", 1))
    assert d.llm_called and not d.proposed and d.candidates == [("Meh", 0.2)]
    assert store.count("proposals") == 0 and not sink.sent


def test_min_interval_between_proposals() -> None:
    loop, _, _, sink = make([response("a"), response("b")], min_interval_s=60)
    assert loop.step(obs("x", 1)).proposed
    assert not loop.step(obs("y", 2)).proposed  # the fake clock did not move


def test_window_per_desktop() -> None:
    loop, llm, _, _ = make([response(None)] * 3, window=2)
    loop.step(obs("d1-a", 1))
    loop.step(obs("d2-a", 2, desktop="d2"))
    loop.step(obs("d1-b", 3))
    last = llm.calls[-1][-1]["content"]
    assert "d1-a" in last and "d1-b" in last and "d2-a" not in last


def test_unusable_llm_output_means_silence_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(QueuedLLM):
        def chat_json(self, *a, **k):  # type: ignore[no-untyped-def]
            raise ModelError("returned text that is not JSON", "hint")

    store = Store.memory()
    loop = Loop(Agent(Broken()), FakeClock(), store=store)
    d = loop.step(obs("a", 1))
    assert d.llm_called and not d.proposed and d.task is None
    assert store.count("observations") == 1 and store.count("proposals") == 0
    assert "not JSON" in caplog.text


def test_a_proposal_carries_its_created_and_expires_times() -> None:
    clock = FakeClock(1000.0)
    store, sink = Store.memory(), ListSink()
    llm = QueuedLLM([response("Explain the error")])
    loop = Loop(Agent(llm), clock, store=store, sinks=[sink], proposal_ttl_s=30.0)
    d = loop.step(obs("stuck", 1))
    assert d.proposed and (d.created_at, d.expires_at) == (1000.0, 1030.0)
    row = store.get_proposal(d.proposal_id or "")
    assert row is not None and (row["created_at"], row["expires_at"]) == (1000.0, 1030.0)
    assert sink.sent == [d]
    silent = Loop(Agent(QueuedLLM([response(None)])), clock).step(obs("typing", 2))
    assert silent.created_at is None and silent.expires_at is None


def test_the_default_ttl_is_the_configured_one() -> None:
    assert Loop(Agent(QueuedLLM()), FakeClock()).proposal_ttl_s == Settings().relay.proposal_ttl_s


def test_adaptation_raises_the_threshold_per_desktop() -> None:
    asked: list[str] = []

    def adaptation(desktop: str) -> Adaptation:
        asked.append(desktop)
        return Adaptation(threshold_raise=0.2 if desktop == "d1" else 0.0)

    gate = RuleGate({}, task_score=0.6, default=0.1)
    loop, _, _, sink = make([response("Help"), response("Help")], gate=gate, adaptation=adaptation)
    held = loop.step(obs("stuck", 1))
    other = loop.step(obs("stuck", 2, desktop="d2"))
    assert not held.proposed and held.candidates == [("Help", 0.6)]
    assert other.proposed and asked == ["d1", "d2"] and len(sink.sent) == 1


def test_adaptation_threshold_is_capped_below_one() -> None:
    gate = RuleGate({}, task_score=0.995, default=0.1)
    loop, *_ = make([response("Help")], gate=gate, adaptation=lambda d: Adaptation(threshold_raise=0.9))
    assert loop.step(obs("stuck", 1)).proposed  # 0.5 + 0.9 is capped at 0.99


def test_adaptation_lengthens_the_minimum_interval() -> None:
    clock = FakeClock()
    loop = Loop(
        Agent(QueuedLLM([response("a"), response("b"), response("c")])),
        clock,
        min_interval_s=10,
        adaptation=lambda d: Adaptation(interval_extra_s=50),
    )
    assert loop.step(obs("x", 1)).proposed
    clock.advance(30)
    assert not loop.step(obs("y", 2)).proposed  # 30 s < 10 + 50
    clock.advance(30)
    assert loop.step(obs("z", 3)).proposed


def test_a_suppressed_task_scores_zero_and_is_not_proposed() -> None:
    checked: list[str] = []

    def suppressed(task: str) -> bool:
        checked.append(task)
        return "photos" in task

    adapt = Adaptation(suppressed=suppressed)
    for gate in (None, RuleGate({}, task_score=0.9, default=0.1)):
        loop, _, store, sink = make(
            [response("Rename the photos"), response("Tidy the desk")], gate=gate, adaptation=lambda d: adapt
        )
        d = loop.step(obs("a", 1))
        assert d.llm_called and not d.proposed and d.candidates == [("Rename the photos", 0.0)]
        assert loop.step(obs("b", 2)).proposed
        assert store.count("proposals") == 1 and len(sink.sent) == 1
    assert checked == ["Rename the photos", "Tidy the desk"] * 2
