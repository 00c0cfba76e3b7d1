from __future__ import annotations

import pytest

from edge.agent import Agent
from edge.clock import FakeClock
from edge.errors import ModelError
from edge.loop import Loop
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
