"""Small in-memory doubles of the core protocols, for unit tests.

Each records its calls and returns queued or rule-based answers, in the way
simonw/llm's tests register fake models.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

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


# ---------------------------------------------------------------- memory: embedders


class HashEmbedder:
    """Deterministic `Embedder`: hashed bag of lower-case words, L2-normalised.

    Texts sharing words are similar; texts sharing none have cosine 0.
    """

    name = "hash-bow"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            if n:
                out[i] /= n
        return out


class FixedEmbedder:
    """An `Embedder` returning vectors from a table (text -> vector), for hand-computed scores."""

    name = "fixed"

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = {k: np.asarray(v, np.float32) for k, v in table.items()}
        self.dim = len(next(iter(self.table.values())))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
