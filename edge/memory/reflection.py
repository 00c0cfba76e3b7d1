"""Reflection and plans (Generative Agents, section 4.2-4.3), sized for a 135M model.

One reflection: re-score the newest records' importance with the LLM, ask for
the most salient questions about the latest records, retrieve for each
question, ask for up to ``max_insights`` insights citing the numbered
statements they rest on, store them as ``reflection`` records with their
citations (statements may be earlier reflections), then refresh the plan.

Every prompt is short and every answer is a JSON object with short string
fields: the structure carries a small model. Citations the model gives are
checked; an insight whose numbers are all invalid cites the statements most
similar to it instead, so every stored insight cites real records. The
prompts and the guards against junk answers are in `edge.memory.prompts`;
the stream is reached through the `Reflecting` protocol, so this module does
not import `edge.memory.stream` (which imports it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge.clock import Clock
from edge.config import MemorySettings
from edge.llm import LLM
from edge.memory.importance import cheap_importance
from edge.memory.prompts import (
    FALLBACK_QUESTIONS,
    INSIGHTS_SCHEMA,
    PLAN_SCHEMA,
    QUESTIONS_SCHEMA,
    clean,
    fit_newest,
    insights_messages,
    plan_messages,
    plausible,
    questions_messages,
    take,
)
from edge.memory.retrieval import Retrieved
from edge.store import Store
from edge.store.memory import CK_PLAN, CK_REFLECTED, RECALLED_KINDS, Memory, MemoryDB, NewMemory

log = logging.getLogger(__name__)


class Reflecting(Protocol):
    """What a reflection needs of the memory stream (`edge.memory.stream.MemoryStream`)."""

    settings: MemorySettings
    store: Store
    records: MemoryDB
    clock: Clock

    def rescore_importance(self, limit: int | None = None) -> int: ...

    def retrieve(
        self, query: str, k: int | None = None, kinds: Sequence[str] | None = None
    ) -> list[Retrieved]:
        """The ``k`` best records of ``kinds`` for ``query``."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def add(self, records: Sequence[NewMemory], vectors: np.ndarray | None = None) -> list[int]: ...


@dataclass
class Reflection:
    """What one reflection produced."""

    questions: list[str] = field(default_factory=list)
    insights: list[Memory] = field(default_factory=list)
    plan: Memory | None = None
    rescored: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "insights": [m.to_json() for m in self.insights],
            "plan": self.plan.to_json() if self.plan else None,
            "rescored": self.rescored,
        }


def reflect(stream: Reflecting, llm: LLM) -> Reflection:
    """One full reflection over ``stream`` (see the module docstring). Raises `ModelError`."""
    s = stream.settings
    out = Reflection()
    start_id = stream.records.max_id()
    out.rescored = stream.rescore_importance()

    latest = stream.records.latest(s.reflection_window, kinds=RECALLED_KINDS)
    statements = fit_newest([m.text for m in latest], 1800)
    if not statements:
        return out
    q = llm.chat_json(
        questions_messages(statements, s.reflection_questions), QUESTIONS_SCHEMA, max_tokens=120
    )
    raw_qs = q.get("questions") if isinstance(q.get("questions"), list) else []
    out.questions = [c for c in (clean(x, 120) for x in raw_qs or []) if plausible(c, 3)]
    # A tiny model often returns junk ("3.1.1.1..."): fill up with generic questions.
    for fq in FALLBACK_QUESTIONS:
        if len(out.questions) >= s.reflection_questions:
            break
        if fq not in out.questions:
            out.questions.append(fq)
    out.questions = out.questions[: s.reflection_questions]

    # Evidence: the best records for each question, deduplicated, in question order.
    evidence: dict[int, Memory] = {}
    per_q = max(3, 12 // len(out.questions))
    for question in out.questions:
        for r in stream.retrieve(question, k=per_q, kinds=RECALLED_KINDS):
            evidence.setdefault(r.memory.id, r.memory)
    texts = take([m.text[:200] for m in evidence.values()], 1800, len, 4)
    mems = list(evidence.values())[: len(texts)]
    if not mems:
        return out

    obj = llm.chat_json(insights_messages(texts, s.max_insights), INSIGHTS_SCHEMA, max_tokens=260)
    items = obj.get("insights") if isinstance(obj.get("insights"), list) else []
    vecs = stream.embed(texts)
    seen = {t.lower() for t in texts}
    now = stream.clock.now()
    new: list[NewMemory] = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        text = clean(item.get("insight"), 160).lstrip("0123456789.-) ").strip()
        if not plausible(text) or text.lower() in seen:
            continue
        seen.add(text.lower())
        nums = item.get("because") if isinstance(item.get("because"), list) else []
        cites = sorted(
            {mems[int(n) - 1].id for n in nums or [] if isinstance(n, int) and 1 <= n <= len(mems)}
        )
        if not cites:
            sims = vecs @ stream.embed([text])[0]
            cites = sorted(mems[int(i)].id for i in np.argsort(-sims, kind="stable")[:3])
        new.append(NewMemory("reflection", text, now, cheap_importance("reflection", text), cites=cites))
        if len(new) >= s.max_insights:
            break
    ids = stream.add(new)
    stored = stream.records.get(ids)
    out.insights = [stored[i] for i in ids]
    stream.store.set_checkpoint(CK_REFLECTED, start_id, now)

    plan = refresh_plan(stream, llm)
    if plan is not None:
        out.plan = plan
        stream.store.set_checkpoint(CK_PLAN, plan.id, now)
    return out


def refresh_plan(stream: Reflecting, llm: LLM) -> Memory | None:
    """A new plan record from the latest reflections and activity, citing those reflections."""
    reflections = stream.records.latest(5, kinds=["reflection"])
    recent = stream.records.latest(8, kinds=["observation"])
    if not reflections and not recent:
        return None
    prompt = plan_messages(
        fit_newest([m.text for m in reflections], 700), fit_newest([m.text for m in recent], 900)
    )
    obj = llm.chat_json(prompt, PLAN_SCHEMA, max_tokens=140)
    summary = clean(obj.get("working_on"), 160)
    nxt = obj.get("next") if isinstance(obj.get("next"), list) else []
    steps = list(dict.fromkeys(c for c in (clean(x, 80) for x in nxt or []) if plausible(c, 2)))[:3]
    if not plausible(summary, 3):
        return None  # keep the previous plan rather than store an echo
    text = summary if summary.endswith(".") else summary + "."
    if steps:
        text += " Next: " + "; ".join(steps) + "."
    now = stream.clock.now()
    cites = [m.id for m in reflections]
    ids = stream.add([NewMemory("plan", text, now, cheap_importance("plan", text), cites=cites)])
    return stream.records.get(ids).get(ids[0])
