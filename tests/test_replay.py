"""`edge.bench.replay`: the one replay behind `proactive replay`/`demo`, `eval` and bench_loop."""

from __future__ import annotations

from pathlib import Path

from edge.bench.replay import replay, replay_each
from edge.config import Settings
from edge.records import Decision, Observation
from edge.sources.trace import Trace
from edge.store import Store
from tests.doubles import QueuedLLM, response


def trace(name: str, n: int) -> Trace:
    return Trace(name, [Observation(text=f"The user does step {i}.", time=str(i)) for i in range(n)])


def no_memory() -> Settings:
    """No memory, and the LLM on every event (no trigger), so each event takes one queued reply."""
    s = Settings()
    s.memory.enabled = False
    s.trigger.enabled = False
    return s


def test_replay_stops_after_max_events_and_keeps_them_in_the_store(tmp_path: Path) -> None:
    llm = QueuedLLM([response("Explain step 0"), response(None)])
    seen: list[Decision] = []
    db = tmp_path / "r.db"
    decisions = replay(
        no_memory(), trace("t", 5), db, llm=llm, use_gate=False, max_events=2, on_decision=seen.append
    )
    assert decisions == seen and [d.observation.text for d in decisions] == [
        "The user does step 0.",
        "The user does step 1.",
    ]
    assert decisions[0].proposed and not decisions[1].proposed
    assert not llm.closed  # a shared model stays open for the caller
    store = Store.open(db)
    assert store.count("observations") == 2 and store.count("proposals") == 1
    store.close()


def test_replay_each_yields_each_trace_as_it_finishes_with_a_fresh_window() -> None:
    llm = QueuedLLM([response(None)] * 3)
    replays = replay_each([trace("a", 2), trace("b", 1)], no_memory(), llm, use_gate=False)
    assert len(next(replays)) == 2 and len(llm.calls) == 2  # b not started yet
    assert len(next(replays)) == 1
    assert llm.calls[2][-1]["content"].count("The user does step") == 2  # only b's event (+ "Latest event")
