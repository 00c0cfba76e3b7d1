"""Small in-memory doubles of the core protocols, for unit tests.

Each records its calls and returns queued or rule-based answers, in the way
simonw/llm's tests register fake models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from edge.llm import Message
from edge.records import Decision, Observation


class QueuedLLM:
    """An `LLM` that returns queued replies in order (JSON objects or strings) and records prompts."""

    name = "queued"

    def __init__(self, replies: Sequence[Any] = ()) -> None:
        self.replies = list(replies)
        self.calls: list[list[Message]] = []
        self.closed = False

    def _next(self) -> Any:
        if not self.replies:
            raise AssertionError("QueuedLLM has no reply left")
        return self.replies.pop(0)

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> str:
        self.calls.append(list(messages))
        reply = self._next()
        return reply if isinstance(reply, str) else json.dumps(reply)

    def chat_json(
        self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int | None = None
    ) -> dict[str, Any]:
        self.calls.append(list(messages))
        reply = self._next()
        return reply if isinstance(reply, dict) else json.loads(reply)

    def close(self) -> None:
        self.closed = True


def response(task: str | None, purpose: str = "p", thoughts: str = "t", say: str = "r") -> dict[str, Any]:
    return {"Purpose": purpose, "Thoughts": thoughts, "Proactive Task": task, "Response": say}


class RuleGate:
    """A `Gate` whose silence score comes from a function of the newest event's text."""

    def __init__(self, silence: dict[str, float], task_score: float = 0.9, default: float = 0.9) -> None:
        self.silence = silence
        self.task_score = task_score
        self.default = default
        self.silence_threshold = 0.5
        self.task_threshold = 0.5
        self.calls = 0

    def silence_score(self, window: Sequence[Observation]) -> float:
        self.calls += 1
        return self.silence.get(window[-1].text, self.default)

    def task_scores(self, window: Sequence[Observation], tasks: Sequence[str]) -> list[float]:
        return [self.task_score for _ in tasks]


class ListSink:
    """A `ProposalSink` that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[Decision] = []

    def send(self, decision: Decision) -> None:
        self.sent.append(decision)


def obs(text: str, i: int = 0, desktop: str = "d1") -> Observation:
    return Observation(
        text=text,
        time=str(1_700_000_000 + i),
        ts=1_700_000_000.0 + i,
        desktop=desktop,
        source="t",
        key=str(i),
    )
