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

from edge.clock import Clock, SystemClock
from edge.llm import Message
from edge.mqtt.client import topic_matches
from edge.mqtt.payloads import status_payload
from edge.mqtt.relay import RelayCore
from edge.mqtt.topics import status_topic
from edge.records import Decision, Observation
from edge.store import Store


class FakeClock:
    """A clock for tests: starts at ``start`` and moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.t += seconds


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


# ------------------------------------------------------------------ the dashboard's parts (tui)
# Appended as one block with its imports so that parallel branches merge cleanly;
# hoist the imports to the top at integration.

from edge.records import feedback_id  # noqa: E402
from tui.ports import MemoryHit, Reflection  # noqa: E402


class FakePublisher:
    """A `tui.ports.FeedbackPublisher` double: records what would go on proactive/v1/<desktop>/feedback."""

    def __init__(self, hub_online: bool = True) -> None:
        self.hub_online = hub_online
        self.connected = True
        self.sent: list[dict[str, Any]] = []
        self.started = self.closed = False
        self.pumps = 0

    def describe(self) -> str:
        return "Answers go to the hub over MQTT." if self.hub_online else "Hub is offline: store only."

    def publish_feedback(self, **kw: Any) -> str:
        self.sent.append(kw)
        return feedback_id(kw["proposal_id"])

    def start(self) -> None:
        self.started = True

    def pump(self) -> None:
        self.pumps += 1

    def close(self) -> None:
        self.closed = True


class FakeMemory:
    """A `tui.ports.MemoryBackend` double: substring search, two reflections citing records, forget.

    Record times are hours before ``now``.
    """

    def __init__(self, now: float) -> None:
        hour = 3600.0
        self.now = now
        self.records = [
            MemoryHit("m1", "observation", "The user runs pytest; 3 tests fail.", None, now - 3 * hour),
            MemoryHit("m2", "observation", "The user fixes the groupby in report.py.", None, now - 20 * hour),
            MemoryHit(
                "m3", "feedback", "The user accepted: Explain the failing tests.", None, now - 2.9 * hour
            ),
            MemoryHit("m4", "observation", "The user reads an e-mail about the rent.", None, now - 5 * hour),
        ]
        self.forgotten: list[str] = []

    def search(self, query: str, k: int = 20) -> list[MemoryHit]:
        words = query.lower().split()
        hits = [r for r in self.records if any(w in r.text.lower() for w in words)]
        return [
            MemoryHit(r.id, r.kind, r.text, round(1.0 - 0.1 * i, 2), r.created_at) for i, r in enumerate(hits)
        ][:k]

    def reflections(self, limit: int = 20) -> list[Reflection]:
        by = {r.id: r for r in self.records}
        hour = 3600.0
        refl = [
            ("r1", "The user is fixing a failing test suite in report.py.", self.now - hour, ["m1", "m3"]),
            ("r2", "The user handles household admin on the laptop.", self.now - 4 * hour, ["m4"]),
        ]
        return [Reflection(i, t, at, [by[c] for c in cites if c in by]) for i, t, at, cites in refl][:limit]

    def forget(self, match: str) -> int:
        before = len(self.records)
        self.records = [r for r in self.records if match.lower() not in r.text.lower()]
        self.forgotten.append(match)
        return before - len(self.records)

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- mqtt: an in-process bus


class MemoryBus:
    """An in-process broker for unit tests: topic routing, retained messages, last wills."""

    def __init__(self) -> None:
        self.clients: list[MemoryRelay] = []
        self.retained: dict[str, bytes] = {}
        self.published: list[tuple[str, bytes]] = []
        self.up = True

    def deliver(self, t: str, data: bytes, retain: bool) -> None:
        self.published.append((t, data))
        if retain:
            self.retained[t] = data
        for c in self.clients:
            if c.connected and c.wants(t):
                c.post_message(t, data)

    def connect(self, c: MemoryRelay) -> None:
        if c not in self.clients:
            self.clients.append(c)
        c.set_connected(True)
        online = json.dumps(status_payload(c.role, c.name, "online", c.clock.now())).encode()
        for t, data in list(self.retained.items()):
            if c.wants(t):
                c.post_message(t, data)
        self.deliver(c.status_topic, online, True)
        c.post_connected()

    def stop(self) -> None:
        """Drop every connection (wills are published) and forget retained messages."""
        self.up = False
        for c in self.clients:
            c.set_connected(False)
        self.retained.clear()

    def restart(self) -> None:
        self.up = True
        for c in self.clients:
            if c.started:
                self.connect(c)


class MemoryRelay(RelayCore):
    """`Relay` on a `MemoryBus`: same outbox, inbox and dispatch as `PahoRelay`, no network."""

    def __init__(
        self, bus: MemoryBus, store: Store, role: str, name: str, clock: Clock | None = None
    ) -> None:
        super().__init__(
            store,
            f"memory-{role}-{name}",
            clock or SystemClock(),
            status_topic(role, name),
            role,
            topic_matches,
        )
        self.bus = bus
        self.name = name
        self.started = False
        self._mid = 0

    def _send(self, t: str, data: bytes, retain: bool) -> int | None:
        if not self.bus.up:
            return None
        self._mid += 1
        self.bus.deliver(t, data, retain)
        self.post_ack(self._mid)
        return self._mid

    def start(self) -> None:
        self.started = True
        if self.bus.up:
            self.bus.connect(self)

    def close(self) -> None:
        if self.started and self.bus.up:
            offline = status_payload(self.role, self.name, "offline", self.clock.now())
            self.bus.deliver(self.status_topic, json.dumps(offline).encode(), True)
        self.started = False
        self.set_connected(False)
