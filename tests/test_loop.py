from __future__ import annotations

from typing import Any

import pytest

from edge.agent import Agent
from edge.config import Settings
from edge.errors import ModelError
from edge.loop import Loop
from edge.records import Adaptation, Anchor
from edge.similarity import JaccardSimilarity
from edge.store import Store
from edge.trigger.model import keyword_model
from edge.trigger.runtime import Trigger
from tests.doubles import FakeClock, ListSink, QueuedLLM, RuleGate, obs, response

SEARCH = "The user searches Google for 'pandas merge on index'."
QUIET = "The user edits 'notes.md' in Visual Studio Code."
TEMPLATE = "Find an answer to 'pandas merge on index'."


def make(replies: list[Any], gate: Any = None, trigger: bool = True, **kw: Any) -> tuple[Any, ...]:
    llm = QueuedLLM(replies)
    store = Store.memory()
    sink = ListSink()
    loop = Loop(
        Agent(llm),
        FakeClock(),
        store=store,
        gate=gate,
        sinks=[sink],
        trigger=Trigger(keyword_model()) if trigger else None,
        **kw,
    )
    return loop, llm, store, sink


def test_without_a_trigger_every_event_asks_the_llm() -> None:
    loop, llm, store, sink = make([response("Explain the error"), response(None)], trigger=False)
    d1 = loop.step(obs("a", 1))
    d2 = loop.step(obs("b", 2))
    assert d1.proposed and d1.task == "Explain the error" and d1.score is None and d1.llm_called
    assert d1.p_help is None and d1.anchor is None
    assert not d2.proposed and d2.llm_called and d2.reason == "LLM chose silence"
    assert len(sink.sent) == 1 and store.count("proposals") == 1 and store.count("observations") == 2
    assert {"time", "event", "proposed", "task", "score", "latency_ms"} <= set(d1.to_json())


def test_the_trigger_keeps_the_llm_quiet_until_help_is_likely() -> None:
    loop, llm, store, sink = make([response("Show how to merge pandas frames on the index.")])
    quiet = loop.step(obs(QUIET, 1))
    helped = loop.step(obs(SEARCH, 2))
    assert not quiet.llm_called and quiet.reason == "trigger: help unlikely now"
    assert quiet.p_help == pytest.approx(0.119, abs=1e-3) and quiet.p_threshold == pytest.approx(0.5)
    assert helped.llm_called and helped.proposed and not helped.template
    assert helped.anchor == Anchor("query", "pandas merge on index")
    assert "Help with: the search query 'pandas merge on index'" in llm.calls[0][-1]["content"]
    assert len(llm.calls) == 1 and len(sink.sent) == 1
    row = store.get_proposal(helped.proposal_id or "")
    assert row is not None and (row["anchor_kind"], row["anchor_text"]) == ("query", "pandas merge on index")
    assert row["p_help"] == pytest.approx(helped.p_help)
    line = helped.to_json()
    assert line["anchor"] == {"kind": "query", "text": "pandas merge on index"}
    assert line["activity"]["verb"] == "search" and line["p_help"] == pytest.approx(0.881, abs=1e-3)


@pytest.mark.parametrize(
    ("task", "why"),
    [
        ("Show how to bake bread at home.", "the task does not mention the anchor"),
        ("Show pandas merge pandas merge pandas merge on the index.", "the task loops"),
        (None, "no task"),
    ],
)
def test_an_unfit_llm_task_gives_way_to_the_anchor_template(task: str | None, why: str) -> None:
    loop, _, _, sink = make([response(task)])
    d = loop.step(obs(SEARCH, 1))
    assert d.proposed and d.template and d.task == TEMPLATE and d.reason == f"template ({why})"
    assert (
        d.response is not None
        and d.response.response == "Want me to find an answer to 'pandas merge on index'?"
    )
    assert sink.sent == [d]


def test_unusable_llm_output_falls_back_to_the_template_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(QueuedLLM):
        def chat_json(self, *a: Any, **k: Any) -> dict[str, Any]:
            raise ModelError("returned text that is not JSON", "hint")

    store = Store.memory()
    loop = Loop(Agent(Broken()), FakeClock(), store=store, trigger=Trigger(keyword_model()))
    d = loop.step(obs(SEARCH, 1))
    assert d.llm_called and d.proposed and d.task == TEMPLATE
    no_anchor = loop.step(obs("The user reads the search page.", 2, desktop="d2"))
    assert not no_anchor.llm_called and not no_anchor.proposed  # nothing to ground help in: no LLM call
    assert no_anchor.reason == "nothing named to help with (no query, error, page or file)"
    assert store.count("observations") == 2 and store.count("proposals") == 1
    assert "not JSON" in caplog.text


def test_the_same_anchor_again_gets_the_template_then_nothing() -> None:
    good = response("Show how to merge pandas frames on the index.")
    loop, _, _, sink = make([good, good, good])
    first = loop.step(obs(SEARCH, 1))
    second = loop.step(obs(SEARCH.replace("Google", "Bing"), 2))
    third = loop.step(obs(SEARCH.replace("Google", "DuckDuckGo"), 3))
    assert first.proposed and not first.template
    assert (
        second.proposed and second.template and second.reason == "template (same anchor as a recent proposal)"
    )
    assert not third.proposed and third.reason.endswith("its template was proposed already")
    assert [d.task for d in sink.sent] == [first.task, TEMPLATE]


def test_a_task_like_a_recent_proposal_is_a_repeat() -> None:
    loop, _, _, _ = make(
        [
            response("Show how to merge pandas frames on the index."),
            response("Show how to merge pandas frames."),
        ],
        similarity=JaccardSimilarity(),
    )
    loop.step(obs(SEARCH, 1))
    d = loop.step(obs("The user searches Google for 'merge pandas frames'.", 2))
    assert d.proposed and d.template and d.reason == "template (repeats a recent proposal)"


def test_the_repeat_window_forgets_old_proposals() -> None:
    good = response("Show how to merge pandas frames on the index.")
    loop, _, _, _ = make([good, good], repeat_window_s=60)
    assert loop.step(obs(SEARCH, 1)).proposed
    loop.clock.advance(61)  # type: ignore[attr-defined]
    d = loop.step(obs(SEARCH, 2))
    assert d.proposed and not d.template


def test_the_reward_model_ranks_and_vetoes() -> None:
    gate = RuleGate({}, task_score=0.05)
    loop, _, store, sink = make(
        [response("Show how to merge pandas frames on the index.")], gate=gate, veto_threshold=0.1
    )
    d = loop.step(obs(SEARCH, 1))
    assert d.llm_called and not d.proposed and d.reason == "vetoed: every task scored under 0.10"
    assert d.candidates == [("Show how to merge pandas frames on the index.", 0.05)]
    assert store.count("proposals") == 0 and not sink.sent
    loop2, *_ = make([response("Show how to merge pandas frames on the index.")], gate=RuleGate({}, 0.7))
    ok = loop2.step(obs(SEARCH, 1))
    assert ok.proposed and ok.score == pytest.approx(0.7)


def test_re_deciding_an_observation_never_proposes_twice() -> None:
    store = Store.memory()
    good = response("Show how to merge pandas frames on the index.")
    for _ in range(2):  # a restart: a new loop on the same store decides the same event again
        loop = Loop(Agent(QueuedLLM([good])), FakeClock(), store=store, trigger=Trigger(keyword_model()))
        d = loop.step(obs(SEARCH, 1))
    assert not d.proposed and d.reason == "already proposed for this event"
    assert store.count("proposals") == 1


def test_min_interval_between_proposals() -> None:
    loop, _, _, _ = make([response("a"), response("b")], trigger=False, min_interval_s=60)
    assert loop.step(obs("x", 1)).proposed
    d = loop.step(obs("y", 2))  # the fake clock did not move
    assert not d.proposed and not d.llm_called and d.reason.startswith("resting")


def test_window_per_desktop() -> None:
    loop, llm, _, _ = make([response(None)] * 3, trigger=False, window=2)
    loop.step(obs("d1-a", 1))
    loop.step(obs("d2-a", 2, desktop="d2"))
    loop.step(obs("d1-b", 3))
    last = llm.calls[-1][-1]["content"]
    assert "d1-a" in last and "d1-b" in last and "d2-a" not in last


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


def test_the_adaptation_offset_moves_the_trigger_per_desktop() -> None:
    asked: list[str] = []

    def adaptation(desktop: str) -> Adaptation:
        asked.append(desktop)
        return Adaptation(trigger_offset=-1.0 if desktop == "d1" else 0.0)

    good = response("Show how to merge pandas frames on the index.")
    loop, _, _, sink = make([good], adaptation=adaptation)
    held = loop.step(obs(SEARCH, 1))
    other = loop.step(obs(SEARCH, 2, desktop="d2"))
    assert not held.llm_called and not held.proposed and held.reason.startswith("trigger")
    assert other.proposed and asked == ["d1", "d2"] and len(sink.sent) == 1


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


def test_a_task_like_a_rejected_one_is_replaced_or_dropped() -> None:
    checked: list[str] = []

    def suppressed(task: str) -> bool:
        checked.append(task)
        return "bread" in task or ("merge" in task and "Find" in task)

    adapt = Adaptation(suppressed=suppressed)
    loop, _, store, sink = make(
        [
            response("Show how to merge bread frames on the index."),
            response("Show how to merge pandas on index."),
        ],
        adaptation=lambda d: adapt,
    )
    d = loop.step(obs(SEARCH, 1))
    assert not d.proposed and d.reason == "like a task the user rejected; its template was proposed already"
    other = loop.step(obs("The user searches Google for 'pandas merge on index fast'.", 2))
    assert other.proposed and other.task == "Show how to merge pandas on index."
    assert store.count("proposals") == 1 and len(sink.sent) == 1
    assert checked[:2] == ["Show how to merge bread frames on the index.", TEMPLATE]
