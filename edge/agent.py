"""The proactive agent: from recent observations to "propose this task" or silence.

The response has the published ProactiveAgent shape (Purpose, Thoughts,
Proactive Task or null, Response). A 135M model writes weak free text, so the
structure carries it: a JSON schema with short string fields constrains the
output, the prompt shows only a bounded window of recent events (never the
whole history), and `PromptContext` adds what the memory retrieved (relevant
records, the current plan, similar tasks the user accepted before).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.llm import LLM, Message
from edge.records import AgentResponse, Observation

SYSTEM_PROMPT = (
    "You are a proactive assistant running on the user's own computer. You watch what the "
    "user does and decide whether to offer help right now. Offer a task only when the user "
    "is stuck, searching for something, repeating work, or starting something you can speed "
    "up (write code, explain an error, summarise a page, draft text, find documentation). "
    'When the user is doing fine on their own, set "Proactive Task" to null. '
    "Answer in JSON with the keys Purpose, Thoughts, Proactive Task, Response."
)

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Purpose": {"type": "string", "maxLength": 120},
        "Thoughts": {"type": "string", "maxLength": 200},
        "Proactive Task": {"anyOf": [{"type": "string", "maxLength": 120}, {"type": "null"}]},
        "Response": {"type": "string", "maxLength": 160},
    },
    "required": ["Purpose", "Thoughts", "Proactive Task", "Response"],
}

_NULLISH = {"", "null", "none", "n/a", "no task", "nothing"}


@dataclass
class PromptContext:
    """What the memory adds to a prompt; every part is optional and already budgeted."""

    memories: list[str] = field(default_factory=list)
    plan: str | None = None
    accepted_examples: list[str] = field(default_factory=list)


def format_events(window: Sequence[Observation]) -> str:
    """Events oldest first, one per line, as the benchmark shows them."""
    return "\n".join(f"{i + 1}. [{o.time}] {o.text}" for i, o in enumerate(window))


def build_messages(window: Sequence[Observation], context: PromptContext | None = None) -> list[Message]:
    """The chat messages for one decision. Pure: the same input gives the same prompt."""
    parts: list[str] = []
    if context and context.plan:
        parts.append(f"What the user is working on: {context.plan}")
    if context and context.memories:
        parts.append("Relevant memories:\n" + "\n".join(f"- {m}" for m in context.memories))
    if context and context.accepted_examples:
        parts.append(
            "Tasks the user accepted before:\n" + "\n".join(f"- {t}" for t in context.accepted_examples)
        )
    parts.append("Recent events, oldest first:\n" + format_events(window))
    parts.append(
        "Purpose: the purpose of the user's last action. Thoughts: is help needed now, and why. "
        "Proactive Task: one short task you can do for the user, or null. "
        "Response: what you say to the user if you offer the task."
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def _clean(value: Any, limit: int) -> str:
    text = re.sub(r"\s+", " ", str(value or "")).strip()
    return text[:limit]


def parse_response(obj: dict[str, Any]) -> AgentResponse:
    """Turn the model's JSON into an `AgentResponse`; empty or "null"-like tasks become None."""
    task = obj.get("Proactive Task")
    task_text = _clean(task, 200) if task is not None else ""
    return AgentResponse(
        purpose=_clean(obj.get("Purpose"), 200),
        thoughts=_clean(obj.get("Thoughts"), 300),
        task=None if task_text.lower().strip(". ") in _NULLISH else task_text,
        response=_clean(obj.get("Response"), 300),
    )


class Agent:
    """Asks the LLM for a ProactiveAgent response over a bounded window of observations."""

    def __init__(self, llm: LLM, window: int = 8, max_tokens: int = 160) -> None:
        self.llm = llm
        self.window = window
        self.max_tokens = max_tokens

    def respond(self, recent: Sequence[Observation], context: PromptContext | None = None) -> AgentResponse:
        """One response for the newest ``window`` observations of ``recent`` (oldest first).

        Raises `edge.errors.ModelError` when the model fails or returns non-JSON.
        """
        window = list(recent)[-self.window :]
        messages = build_messages(window, context)
        obj = self.llm.chat_json(messages, RESPONSE_SCHEMA, max_tokens=self.max_tokens)
        return parse_response(obj)
