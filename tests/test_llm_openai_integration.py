"""``llm.backend = "openai"`` against a real OpenAI-compatible server.

The server is llama-cpp-python's own (``python -m llama_cpp.server``, the
``server`` extra of the wheel the project already builds) serving the
embedded GGUF on a free loopback port. It knows only the older
``{"type": "json_object", "schema": ...}`` response format, so these tests
also prove the client's fallback from the OpenAI ``json_schema`` form.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import jsonschema
import pytest

from edge.agent import RESPONSE_SCHEMA, TASK_VERBS, Agent, build_messages
from edge.config import LLMSettings
from edge.errors import ModelError
from edge.llm import OpenAICompatLLM, default_model_path, make_llm
from edge.sources.trace import load_trace
from tests.conftest import SHARED_DATA, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """Base URL (``.../v1``) of a llama-cpp-python server on the embedded GGUF, torn down after."""
    pytest.importorskip("llama_cpp.server.app", reason="needs the test extra (llama-cpp-python[server])")
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(default_model_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2", "--verbose", "false",
    ]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not answer within 120 s")
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_chat_answers_and_is_repeatable(endpoint: str) -> None:
    llm = make_llm(LLMSettings(backend="openai", endpoint=endpoint, max_tokens=16))
    assert isinstance(llm, OpenAICompatLLM)
    msgs = [{"role": "user", "content": "Name one colour."}]
    first = llm.chat(msgs, max_tokens=8)  # type: ignore[list-item]
    assert first and first == llm.chat(msgs, max_tokens=8)  # type: ignore[list-item]


def test_agent_gets_schema_valid_responses_over_http(endpoint: str) -> None:
    llm = OpenAICompatLLM(LLMSettings(backend="openai", endpoint=endpoint))
    events = load_trace(SHARED_DATA / "traces" / "code_11.json").observations
    raw = llm.chat_json(build_messages(events[:2]), RESPONSE_SCHEMA)
    jsonschema.validate(raw, RESPONSE_SCHEMA)
    # the server rejected the OpenAI json_schema form; the older form that worked is remembered
    assert llm.json_form == "json_object"
    r = Agent(llm, window=6).respond(events[:9])
    assert r.task is None or re.match(f"^({TASK_VERBS}) ", r.task)


def test_unreachable_endpoint_is_a_model_error_with_a_hint() -> None:
    llm = OpenAICompatLLM(LLMSettings(backend="openai", endpoint=f"http://127.0.0.1:{free_port()}/v1"))
    with pytest.raises(ModelError, match="Cannot reach the model endpoint") as e:
        llm.chat([{"role": "user", "content": "hi"}])
    assert "llm.endpoint" in e.value.hint


def test_wrong_path_is_a_model_error(endpoint: str) -> None:
    llm = OpenAICompatLLM(LLMSettings(backend="openai", endpoint=endpoint.removesuffix("/v1") + "/nope"))
    with pytest.raises(ModelError, match="HTTP 404"):
        llm.chat([{"role": "user", "content": "hi"}])


def test_doctor_probes_the_endpoint(endpoint: str) -> None:
    from edge.config import Settings
    from edge.doctor import check_model

    up = Settings.model_validate({"llm": {"backend": "openai", "endpoint": endpoint}})
    assert check_model(up).ok
    down = Settings.model_validate(
        {"llm": {"backend": "openai", "endpoint": f"http://127.0.0.1:{free_port()}/v1"}}
    )
    check = check_model(down)
    assert not check.ok and "does not answer" in check.detail and "llm.endpoint" in check.hint
