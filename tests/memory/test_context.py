from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.agent import build_messages
from edge.encoder import OnnxEmbedder
from edge.memory.stream import MemoryStream, approx_tokens
from edge.ports import ContextProvider
from edge.records import AgentResponse, PromptContext
from edge.store.memory import CK_PLAN, NewMemory
from tests.doubles import QueuedLLM, obs
from tests.memory.conftest import MODELS

HISTORY = [
    "The user writes a Flask route for user login in app.py.",
    "The user searches 'flask login session cookie' in the browser.",
    "The user gets a KeyError 'user_id' in the Flask session.",
    "The user edits the grocery list in Notes.",
    "The user watches a cooking video.",
    "The user books a train ticket to Berlin.",
]


def _accept(st: MemoryStream, pid: str, task: str, i: int) -> None:
    o = obs(f"event {pid}", 100 + i)
    st.store.add_observation(o, now=i)
    st.store.add_proposal(pid, o, AgentResponse("p", "t", task, "r"), 0.9, now=i, ttl_s=120)
    st.store.add_feedback(f"f{pid}", pid, "accepted", "d1", now=i)


def test_context_for_gives_memories_plan_examples_within_budget(make_stream, clock) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(top_k=4, prompt_token_budget=120, accepted_examples=2)
    provider: ContextProvider = st
    assert callable(provider.context_for) and callable(provider.remember)
    for i, t in enumerate(HISTORY):
        st.remember(obs(t, i))
    _accept(st, "p1", "Explain the Flask session KeyError", 1)
    _accept(st, "p2", "Suggest a recipe for dinner", 2)
    _accept(st, "p3", "Write the Flask login test", 3)
    [plan] = st.add([NewMemory("plan", "Building login for a Flask app. Next: fix session.", clock.now(), 5)])
    st.store.set_checkpoint(CK_PLAN, plan, clock.now())
    window = [obs("The user opens app.py and looks at the Flask login session code.", 50)]
    ctx = st.context_for(window)
    assert ctx.plan and ctx.plan.startswith("Building login")
    assert ctx.accepted_examples[0] in ("Explain the Flask session KeyError", "Write the Flask login test")
    assert "Suggest a recipe for dinner" not in ctx.accepted_examples[:1]
    assert ctx.memories and any("Flask" in m for m in ctx.memories)
    assert not any(m == window[0].text for m in ctx.memories)  # the window is not repeated
    assert not any(m.startswith("Building login") for m in ctx.memories)  # plans are not memories
    used = sum(approx_tokens(x) + 2 for x in ctx.memories + ctx.accepted_examples) + approx_tokens(ctx.plan)
    assert used <= 120
    # the agent prompt shows all three parts
    prompt = build_messages(window, ctx)[-1]["content"]
    assert "Building login" in prompt and "Flask" in prompt


def test_context_respects_tiny_budget_and_empty_window(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(prompt_token_budget=5)
    for i, t in enumerate(HISTORY):
        st.remember(obs(t, i))
    ctx = st.context_for([obs("The user runs the Flask app.", 9)])
    assert ctx.memories == [] and ctx.plan is None
    assert st.context_for([]) == PromptContext()


def test_ask_answers_from_memories(make_stream) -> None:  # type: ignore[no-untyped-def]
    llm = QueuedLLM(["The user is building a Flask login."])
    st = make_stream(llm=llm)
    for i, t in enumerate(HISTORY):
        st.remember(obs(t, i))
    ans = st.ask("What is the user working on with Flask?")
    assert ans.answer == "The user is building a Flask login."
    assert "Flask" in llm.calls[0][-1]["content"] and ans.memories
    empty = make_stream(llm=QueuedLLM([]))
    assert "no memories" in empty.ask("Anything?").answer


def test_a_looping_answer_shows_the_memories_instead(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(llm=QueuedLLM(["a Flask app for a Flask app for a Flask app for a Flask app"]))
    for i, t in enumerate(HISTORY):
        st.remember(obs(t, i))
    ans = st.ask("What is the user working on?")
    assert ans.answer.startswith("(the model's answer looped) Most relevant memories: ")
    assert ans.memories[0].memory.text in ans.answer


@pytest.mark.integration
def test_real_onnx_embedder_related_beats_unrelated(make_stream) -> None:  # type: ignore[no-untyped-def]
    if not (MODELS / "model.onnx").exists():
        pytest.skip("models/minilm/model.onnx not built")
    emb = OnnxEmbedder(Path(MODELS))
    v = emb.embed(
        [
            "The user gets a KeyError in the Flask session after login.",
            "The user debugs a Flask login error involving the session cookie.",
            "The user books a train ticket to Berlin.",
        ]
    )
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    st = make_stream(embedder=emb, top_k=2, w_recency=0, w_importance=0)
    for i, t in enumerate(HISTORY):
        st.remember(obs(t, i))
    hits = st.retrieve("Why does the web app lose the logged-in user?", k=2)
    assert all("flask" in h.memory.text.lower() for h in hits), [h.memory.text for h in hits]
