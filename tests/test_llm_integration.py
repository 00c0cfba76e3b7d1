"""The real embedded GGUF through the real llama.cpp build: schema-valid output."""

from __future__ import annotations

import re

import jsonschema
import pytest

from edge.agent import RESPONSE_SCHEMA, TASK_VERBS, Agent
from edge.config import LLMSettings
from edge.errors import ModelError
from edge.llm import LlamaCppLLM, default_model_path, make_llm
from edge.sources.trace import load_trace
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.integration


def test_default_model_is_the_packaged_gguf() -> None:
    p = default_model_path()
    assert p.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and p.stat().st_size > 50_000_000


def test_agent_output_is_schema_valid_on_real_windows(real_llm: LlamaCppLLM) -> None:
    agent = Agent(real_llm, window=6)
    events = load_trace(SHARED_DATA / "traces" / "code_11.json").observations
    for end in (2, 9):
        raw = real_llm.chat_json(
            __import__("edge.agent", fromlist=["build_messages"]).build_messages(events[:end][-6:]),
            RESPONSE_SCHEMA,
        )
        jsonschema.validate(raw, RESPONSE_SCHEMA)
        r = agent.respond(events[:end])
        assert r.task is None or re.match(f"^({TASK_VERBS}) ", r.task)


def test_temperature_zero_is_repeatable(real_llm: LlamaCppLLM) -> None:
    msgs = [{"role": "user", "content": "Name one colour."}]
    assert real_llm.chat(msgs, max_tokens=8) == real_llm.chat(msgs, max_tokens=8)


def test_missing_model_file_is_a_model_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="does not exist"):
        make_llm(LLMSettings(model_path=tmp_path / "nope.gguf"))


def test_not_a_gguf_is_a_model_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF but not really" * 10)
    with pytest.raises(ModelError, match="Cannot load"):
        LlamaCppLLM(LLMSettings(model_path=bad))
