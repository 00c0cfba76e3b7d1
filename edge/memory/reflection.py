"""Reflection and plans (Generative Agents, section 4.2-4.3), sized for a 135M model.

One reflection: re-score the newest records' importance with the LLM, ask for
the most salient questions about the latest records, retrieve for each
question, ask for up to ``max_insights`` insights citing the numbered
statements they rest on, store them as ``reflection`` records with their
citations (statements may be earlier reflections), then refresh the plan.

Every prompt is short and every answer is a JSON object with short string
fields: the structure carries a small model. Citations the model gives are
checked; an insight whose numbers are all invalid cites the statements most
similar to it instead, so every stored insight cites real records.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.llm import LLM, Message
from edge.memory.db import Memory, NewMemory
from edge.memory.importance import cheap_importance

if TYPE_CHECKING:
    from edge.memory.stream import MemoryStream

log = logging.getLogger(__name__)

QUESTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "questions": {
            "type": "array",
            "items": {"type": "string", "maxLength": 90},
            "minItems": 1,
            "maxItems": 3,
        }
    },
    "required": ["questions"],
}

INSIGHTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "insights": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "insight": {"type": "string", "maxLength": 120},
                    "because": {"type": "array", "items": {"type": "integer"}, "maxItems": 4},
                },
                "required": ["insight", "because"],
            },
            "minItems": 1,
            "maxItems": 5,
        }
    },
    "required": ["insights"],
}

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "working_on": {"type": "string", "maxLength": 140},
        "next": {"type": "array", "items": {"type": "string", "maxLength": 70}, "maxItems": 3},
    },
    "required": ["working_on", "next"],
}

SYSTEM = "You study the activity of a computer user and answer in JSON."


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


def _bullets(lines: list[str], numbered: bool = False) -> str:
    return "\n".join(f"{i + 1}. {t}" if numbered else f"- {t}" for i, t in enumerate(lines))


def _fit(texts: list[str], budget_chars: int, each: int = 200) -> list[str]:
    """Newest-last texts, deduplicated, keeping the newest that fit in ``budget_chars``."""
    out: list[str] = []
    used = 0
    for t in reversed(list(dict.fromkeys(texts))):
        t = t[:each]
        if used + len(t) > budget_chars:
            break
        out.append(t)
        used += len(t) + 3
    return list(reversed(out))


def questions_messages(statements: list[str], n: int) -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Statements about the user:\n{_bullets(statements)}\n\n"
            f"Given only the statements above, what are the {n} most salient high-level "
            "questions we can answer about the user?",
        },
    ]


def insights_messages(statements: list[str], n: int) -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Statements about the user:\n{_bullets(statements, numbered=True)}\n\n"
            f"What {n} high-level insights can you infer from the above statements? For each, "
            'give the insight and the numbers of the statements it is based on ("because").',
        },
    ]


def plan_messages(insights: list[str], recent: list[str]) -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Insights about the user:\n{_bullets(insights)}\n\n"
            f"Latest activity:\n{_bullets(recent)}\n\n"
            "In one sentence, what is the user working on? Then predict the user's next 3 activities.",
        },
    ]


def answer_messages(question: str, memories: list[str], plan: str | None) -> list[Message]:
    """The interview prompt of `MemoryStream.ask`."""
    parts = []
    if plan:
        parts.append(f"Current plan: {plan}")
    parts.append("Memories about the user:\n" + (_bullets(memories) if memories else "(none)"))
    parts.append(f"Question: {question}\nAnswer in one or two sentences, using only the memories.")
    return [
        {
            "role": "system",
            "content": "You are an assistant who has watched a computer user work. "
            "You answer questions about the user from your memories, briefly and truthfully.",
        },
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def _clean(text: Any, limit: int) -> str:
    return " ".join(str(text or "").split())[:limit].strip()


FALLBACK_QUESTIONS = [
    "What is the user working on?",
    "What problems does the user run into?",
    "What does the user look for?",
]
_ECHOES = (
    "statements about the user",
    "insights about the user",
    "latest activity",
    "the assistant proposed",
)


def loops(text: str, n: int = 3, times: int = 3) -> bool:
    """True when some run of ``n`` words recurs ``times`` or more: a small model going round in circles."""
    words = [w.strip(".,;:!?'\"()").lower() for w in text.split()]
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return bool(grams) and max(grams.values()) >= times


def plausible(text: str, min_words: int = 4) -> bool:
    """A small model's output worth storing: enough real words, not an echo of the prompt, no loop."""
    words = [w for w in text.split() if sum(c.isalpha() for c in w) >= 2]
    low = text.lower().lstrip("0123456789.-) ")
    return (
        len(words) >= min_words
        and not any(low.startswith(e) or low == e for e in _ECHOES)
        and not loops(text)
    )


def reflect(stream: MemoryStream, llm: LLM) -> Reflection:
    """One full reflection over ``stream`` (see the module docstring). Raises `ModelError`."""
    from edge.memory.stream import CK_PLAN, CK_REFLECTED

    s = stream.settings
    out = Reflection()
    start_id = stream.db.max_id()
    out.rescored = stream.rescore_importance()

    latest = stream.db.latest(
        s.reflection_window, kinds=["observation", "proposal", "feedback", "reflection"]
    )
    statements = _fit([m.text for m in latest], 1800)
    if not statements:
        return out
    q = llm.chat_json(
        questions_messages(statements, s.reflection_questions), QUESTIONS_SCHEMA, max_tokens=120
    )
    raw_qs = q.get("questions") if isinstance(q.get("questions"), list) else []
    out.questions = [c for c in (_clean(x, 120) for x in raw_qs or []) if plausible(c, 3)]
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
        for r in stream.retrieve(
            question, k=per_q, kinds=["observation", "proposal", "feedback", "reflection"]
        ):
            evidence.setdefault(r.memory.id, r.memory)
    mems = list(evidence.values())
    texts, used = [], 0
    for m in mems:
        t = m.text[:200]
        if used + len(t) > 1800:
            break
        texts.append(t)
        used += len(t) + 4
    mems = mems[: len(texts)]
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
        text = _clean(item.get("insight"), 160).lstrip("0123456789.-) ").strip()
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
    out.insights = [stream.db.get(ids)[i] for i in ids]
    stream.store.set_checkpoint(CK_REFLECTED, start_id, now)

    plan = refresh_plan(stream, llm)
    if plan is not None:
        out.plan = plan
        stream.store.set_checkpoint(CK_PLAN, plan.id, now)
    return out


def refresh_plan(stream: MemoryStream, llm: LLM) -> Memory | None:
    """A new plan record from the latest reflections and activity, citing those reflections."""
    reflections = stream.db.latest(5, kinds=["reflection"])
    recent = stream.db.latest(8, kinds=["observation"])
    if not reflections and not recent:
        return None
    obj = llm.chat_json(
        plan_messages(_fit([m.text for m in reflections], 700), _fit([m.text for m in recent], 900)),
        PLAN_SCHEMA,
        max_tokens=140,
    )
    summary = _clean(obj.get("working_on"), 160)
    nxt = obj.get("next") if isinstance(obj.get("next"), list) else []
    steps = list(dict.fromkeys(c for c in (_clean(x, 80) for x in nxt or []) if plausible(c, 2)))[:3]
    if not plausible(summary, 3):
        return None  # keep the previous plan rather than store an echo
    text = summary if summary.endswith(".") else summary + "."
    if steps:
        text += " Next: " + "; ".join(steps) + "."
    now = stream.clock.now()
    cites = [m.id for m in reflections]
    ids = stream.add([NewMemory("plan", text, now, cheap_importance("plan", text), cites=cites)])
    return stream.db.get(ids).get(ids[0])
