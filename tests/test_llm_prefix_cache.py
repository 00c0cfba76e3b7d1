"""The prompt-prefix cache and the lazy grammar check on the real embedded GGUF.

Both, and generating on one thread (the default for a small model), must leave
the output at temperature 0 exactly as a fresh evaluation of the whole prompt
with the stock llama.cpp chain on two threads gives it, also when other
prompts (the memory's, the feedback's) ran in between, while evaluating fewer
prompt tokens. The saved states stay in memory, within their bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.agent import PHRASE_SCHEMA, RESPONSE_SCHEMA, build_messages, build_phrase_messages
from edge.config import LLMSettings
from edge.grounding import anchor_of
from edge.llm import LlamaCppLLM, Message
from edge.memory.importance import POIGNANCY_SCHEMA, poignancy_messages
from edge.memory.prompts import answer_messages
from edge.records import PromptContext
from edge.sources.trace import load_trace
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.integration


def real_prompts() -> list[tuple[list[Message], dict[str, Any]]]:
    """Phrase prompts on windows of two real traces (one with a memory context), and one respond prompt."""
    prompts: list[tuple[list[Message], dict[str, Any]]] = []
    for name, ends in (("code_12.json", (4, 9, 13)), ("writing_11.json", (5, 10))):
        events = load_trace(SHARED_DATA / "traces" / name).observations
        for end in ends:
            window = events[:end][-8:]
            context = None
            if end == 10:
                context = PromptContext(["The user drafts a blog post on ethical fashion."], "a fashion post")
            prompts.append((build_phrase_messages(window, anchor_of(window), context), PHRASE_SCHEMA))
    prompts.append((build_messages(events[:6][-8:]), RESPONSE_SCHEMA))
    return prompts


@pytest.fixture(scope="module")
def stock() -> Iterator[LlamaCppLLM]:
    # as the calls were before: no cache, the stock sampler chain, both cores generating
    llm = LlamaCppLLM(LLMSettings(prefix_cache=False, lazy_grammar=False, threads=2))
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def cached() -> Iterator[LlamaCppLLM]:
    llm = LlamaCppLLM(LLMSettings(prefix_cache=True, lazy_grammar=True))
    yield llm
    llm.close()


def test_same_output_as_a_fresh_stock_evaluation_with_other_prompts_in_between(
    stock: LlamaCppLLM, cached: LlamaCppLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    prompts = real_prompts()
    evaluated = {"stock": 0, "cached": 0}
    for i, (messages, schema) in enumerate(prompts):
        # what the memory and the feedback ask in between: llama.cpp's own reuse of the last prompt is gone
        cached.chat_json(poignancy_messages(f"The user saves draft {i}."), POIGNANCY_SCHEMA, max_tokens=12)
        cached.chat(answer_messages("What is the user doing?", ["The user writes."], None), max_tokens=16)
        before = cached.stats["evaluated_tokens"]
        got = cached.chat_json(messages, schema)
        evaluated["cached"] += cached.stats["evaluated_tokens"] - before
        stock.forget()  # a fresh evaluation of the whole prompt
        before = stock.stats["evaluated_tokens"]
        want = stock.chat_json(messages, schema)
        evaluated["stock"] += stock.stats["evaluated_tokens"] - before
        assert got == want, f"prompt {i}"
    states = cached.prefix_states
    assert states is not None
    # the phrase prefix was saved once and restored for every later phrase prompt
    assert states.hits >= len(prompts) - 3 and 0 < len(states) <= 3
    # about 350 of each phrase prompt's ~550 tokens were not evaluated again
    assert evaluated["cached"] < evaluated["stock"] - 250 * (len(prompts) - 3)
    assert 0 < states.nbytes <= cached.settings.prefix_cache_mb * 1024 * 1024
    assert list(tmp_path.iterdir()) == []  # nothing written where the process runs


def test_a_bound_smaller_than_one_state_keeps_nothing_and_changes_nothing(stock: LlamaCppLLM) -> None:
    tiny = LlamaCppLLM(LLMSettings(prefix_cache_mb=1))  # the phrase prefix's state takes ~8 MB
    try:
        messages, schema = real_prompts()[1]
        stock.forget()
        assert tiny.chat_json(messages, schema) == stock.chat_json(messages, schema)
        assert tiny.prefix_states is not None and len(tiny.prefix_states) == 0
    finally:
        tiny.close()


def test_the_same_prompt_twice_gives_the_same_output(cached: LlamaCppLLM) -> None:
    # llama.cpp alone would re-evaluate only the last token of a repeated prompt (in another
    # batch shape); with the prefix cache everything after the prefix is evaluated again
    messages, schema = real_prompts()[2]
    assert cached.chat_json(messages, schema) == cached.chat_json(messages, schema)
