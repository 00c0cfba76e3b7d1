from __future__ import annotations

from edge.agent import Agent, build_messages, parse_response
from edge.records import PromptContext
from tests.doubles import QueuedLLM, obs, response


def test_nullish_tasks_become_none() -> None:
    for t in [None, "", "null", "None.", "  N/A "]:
        assert parse_response(response(t)).task is None
    assert parse_response(response("Find the pandas docs")).task == "Find the pandas docs"


def test_window_is_bounded_and_ordered() -> None:
    llm = QueuedLLM([response("x")])
    Agent(llm, window=3).respond([obs(f"event {i}", i) for i in range(10)])
    prompt = llm.calls[0][-1]["content"]
    assert "event 6" not in prompt
    assert prompt.index("event 7") < prompt.index("event 9")


def test_context_parts_appear_in_prompt() -> None:
    ctx = PromptContext(memories=["m1"], plan="writing a thesis", accepted_examples=["summarise paper"])
    text = build_messages([obs("e")], ctx)[-1]["content"]
    assert "writing a thesis" in text and "- m1" in text and "summarise paper" in text
