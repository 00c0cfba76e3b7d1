"""Plain data passed between the rooms: observations, agent responses, decisions, prompt context.

These are the shapes every module agrees on. They carry no behaviour beyond
(de)serialisation so that any room can depend on them without cycles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


def stable_id(*parts: object) -> str:
    """A short deterministic id from ``parts``: the same input gives the same id.

    Used as the primary key of observations, proposals and feedback so that a
    redelivered event or message is an idempotent upsert, never a duplicate.
    """
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:24]


def feedback_id(proposal_id: str) -> str:
    """The id of the answer to a proposal: one per proposal, whoever answers it."""
    return stable_id("feedback", proposal_id)


@dataclass(frozen=True)
class Observation:
    """One natural-language record of what the user did ("The user ...").

    ``time`` is the display time as the source gave it (a unix timestamp string
    for real traces, "Day 1, 11:00 PM" for simulated ones); ``ts`` is the unix
    time when known. ``key`` identifies the underlying raw event(s) so that
    re-reading the same span yields the same ``id``.
    """

    text: str
    time: str
    ts: float | None = None
    desktop: str = "local"
    app: str = ""
    source: str = ""
    key: str = ""
    help_needed: bool | None = None

    @property
    def id(self) -> str:
        return stable_id(self.desktop, self.source, self.key or f"{self.time}|{self.text}")

    def to_event(self) -> dict[str, str]:
        """The ProactiveBench event shape: ``{"time", "event"}``."""
        return {"time": self.time, "event": self.text}


@dataclass(frozen=True)
class AgentResponse:
    """The published ProactiveAgent response: Purpose, Thoughts, Proactive Task, Response.

    ``task`` is None when the agent decides to stay silent.
    """

    purpose: str
    thoughts: str
    task: str | None
    response: str

    def to_json(self) -> dict[str, Any]:
        return {
            "Purpose": self.purpose,
            "Thoughts": self.thoughts,
            "Proactive Task": self.task,
            "Response": self.response,
        }


@dataclass
class Decision:
    """What the loop decided for one observation.

    ``score`` is the reward model's P(valid) of the chosen action (the task, or
    silence when nothing is proposed), None while no reward model is loaded.
    ``llm_called`` tells whether the (expensive) LLM ran for this event.
    A proposal carries the unix times the loop stamped it with: ``created_at``
    (after the LLM ran) and ``expires_at`` (``created_at`` + the proposal TTL).
    """

    observation: Observation
    proposed: bool
    task: str | None
    score: float | None
    latency_ms: float
    response: AgentResponse | None = None
    llm_called: bool = False
    proposal_id: str | None = None
    silence_score: float | None = None
    candidates: list[tuple[str, float | None]] = field(default_factory=list)
    created_at: float | None = None
    expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The `proactive replay --json` line: time, event, proposed, task, score, latency_ms."""
        return {
            "time": self.observation.time,
            "event": self.observation.text,
            "proposed": self.proposed,
            "task": self.task,
            "score": None if self.score is None else round(self.score, 4),
            "latency_ms": round(self.latency_ms, 1),
        }


def _nothing_suppressed(task: str) -> bool:
    return False


@dataclass(frozen=True)
class Adaptation:
    """How a desktop's past answers adjust the loop's next decision for it.

    ``threshold_raise`` is added to the gate's task threshold, ``interval_extra_s``
    to the minimum interval between proposals; ``suppressed(task)`` is True for
    a task too similar to one the user rejected recently.
    """

    threshold_raise: float = 0.0
    interval_extra_s: float = 0.0
    suppressed: Callable[[str], bool] = _nothing_suppressed


NO_ADAPTATION = Adaptation()


@dataclass(frozen=True)
class HelpResult:
    """The help written for an accepted proposal (kind: answer, snippet, summary or checklist)."""

    proposal_id: str
    desktop: str
    task: str
    kind: str
    text: str
    created_at: float


@dataclass(frozen=True)
class VerdictApplied:
    """What the hub did with one answer to a proposal: the verdict, and the result to send for an accept."""

    proposal_id: str
    desktop: str
    verdict: str
    result: HelpResult | None = None


@dataclass
class PromptContext:
    """What the memory adds to a prompt; every part is optional and already budgeted."""

    memories: list[str] = field(default_factory=list)
    plan: str | None = None
    accepted_examples: list[str] = field(default_factory=list)


def observation_from_dict(d: dict[str, Any]) -> Observation:
    """Inverse of ``dataclasses.asdict`` for `Observation` (used by stores and relays)."""
    return Observation(**{k: d[k] for k in Observation.__dataclass_fields__ if k in d})


def observation_to_dict(o: Observation) -> dict[str, Any]:
    return asdict(o)
