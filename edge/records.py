"""Plain data passed between the rooms: observations and their structured activity, agent
responses, decisions, prompt context.

These are the shapes every module agrees on. They carry no behaviour beyond
(de)serialisation so that any room can depend on them without cycles.
"""

from __future__ import annotations

import hashlib
import re
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


_UNPAIRED = re.compile("[\ud800-\udfff\x00]")


def valid_text(s: str) -> str:
    """``s`` as valid UTF-8 text: every lone surrogate and NUL becomes U+FFFD. JSON readers
    (``json.loads``, requests' ``.json()``) let ``"\\ud800"`` through, and `stable_id`, SQLite and
    ``.encode()`` refuse it: sources repair text with this as they read it."""
    return _UNPAIRED.sub("\ufffd", s)


def feedback_id(proposal_id: str) -> str:
    """The id of the answer to a proposal: one per proposal, whoever answers it."""
    return stable_id("feedback", proposal_id)


# The structured vocabulary of an activity (see `Activity`).
VERBS = (
    "search", "open_result", "read", "scroll", "type", "edit", "run", "switch",
    "open_app", "idle", "chat_assistant", "click", "other",
)  # fmt: skip
OBJECT_KINDS = ("query", "page", "site", "file", "app", "error", "command", "document", "none")
APP_CATEGORIES = ("editor", "browser", "terminal", "document", "chat", "other")
SITE_KINDS = ("qa", "docs", "search", "chat", "video", "web", "none")
ACTIVITY_TEXT_MAX = 300


@dataclass(frozen=True)
class Activity:
    """The structured form of one observation: what the user did to what, where, and when.

    ``verb``, ``object_kind``, ``app_category`` and ``site_kind`` are members of
    `VERBS`, `OBJECT_KINDS`, `APP_CATEGORIES` and `SITE_KINDS`. ``object_text``
    is the query, page title, file, error or command the event names ("" when
    none): the *anchor* a proposal can be grounded in. ``switched`` is True
    when the user came from another application; ``error`` when an error or
    failure is visible. ``dwell_s`` is how long the event lasted and ``gap_s``
    the seconds since the previous observation of the desktop (None: unknown).

    Filled from the raw ActivityWatch events by `edge.sources.observe`, or by
    the sentence parser `edge.sources.sentences` for text-only traces.
    """

    verb: str = "other"
    object_kind: str = "none"
    object_text: str = ""
    app_category: str = "other"
    app: str = ""
    site: str = ""
    site_kind: str = "none"
    switched: bool = False
    error: bool = False
    dwell_s: float | None = None
    gap_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_ACTIVITY_CHOICES: dict[str, tuple[str, ...]] = {
    "verb": VERBS,
    "object_kind": OBJECT_KINDS,
    "app_category": APP_CATEGORIES,
    "site_kind": SITE_KINDS,
}


def activity_from_dict(d: object) -> tuple[Activity, list[str]]:
    """An `Activity` from untrusted JSON, and the fields that were unknown, missing or invalid.

    Never raises: an unknown key is ignored, a missing or invalid value takes
    its default, text is clipped to `ACTIVITY_TEXT_MAX` characters. The second
    element names every field that was not used as given (for one log line).
    """
    if not isinstance(d, dict):
        return Activity(), ["activity"]
    fields = Activity.__dataclass_fields__
    problems = sorted(str(k) for k in d if k not in fields)
    values: dict[str, Any] = {}
    for name in fields:
        if name not in d:
            problems.append(name)
            continue
        v = d[name]
        if name in _ACTIVITY_CHOICES:
            ok = isinstance(v, str) and v in _ACTIVITY_CHOICES[name]
        elif name in ("switched", "error"):
            ok = isinstance(v, bool)
        elif name in ("dwell_s", "gap_s"):
            ok = v is None or (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e9)
            v = None if v is None else float(v) if ok else None
        else:
            ok = isinstance(v, str)
            v = v[:ACTIVITY_TEXT_MAX] if ok else ""
        if ok:
            values[name] = v
        else:
            problems.append(name)
    return Activity(**values), problems


ANCHOR_KINDS = ("error", "query", "file", "document", "page", "command")


@dataclass(frozen=True)
class Anchor:
    """What a proposal is about: an object the structured window names (`ANCHOR_KINDS`) and its text."""

    kind: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}

    def key(self) -> str:
        """The anchor compared across proposals: kind and text, case and spacing folded."""
        return f"{self.kind}:{' '.join(self.text.lower().split())}"


@dataclass(frozen=True)
class Observation:
    """One natural-language record of what the user did ("The user ...").

    ``time`` is the display time as the source gave it (a unix timestamp string
    for real traces, "Day 1, 11:00 PM" for simulated ones); ``ts`` is the unix
    time when known. ``key`` identifies the underlying raw event(s) so that
    re-reading the same span yields the same ``id``. ``activity`` is the
    structured form (None until a source or the parser fills it); it is not
    part of the ``id``.
    """

    text: str
    time: str
    ts: float | None = None
    desktop: str = "local"
    app: str = ""
    source: str = ""
    key: str = ""
    help_needed: bool | None = None
    activity: Activity | None = None

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

    ``p_help`` is the trigger's calibrated P(help now) and ``p_threshold`` the
    bar it had to reach (None without a trigger). ``anchor`` is what the help
    is about; ``score`` the reward model's P(valid) of the proposed task (None
    without a reward model); ``template`` tells that the task is the
    deterministic one for the anchor rather than the LLM's; ``reason`` says in
    a few words why the loop stayed silent or what it proposed.
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
    p_help: float | None = None
    p_threshold: float | None = None
    anchor: Anchor | None = None
    template: bool = False
    reason: str = ""
    candidates: list[tuple[str, float | None]] = field(default_factory=list)
    created_at: float | None = None
    expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The `proactive replay --json` line: time, event, proposed, task, score, latency_ms,
        then p_help, anchor, activity (the structured event) and reason."""
        act = self.observation.activity
        return {
            "time": self.observation.time,
            "event": self.observation.text,
            "proposed": self.proposed,
            "task": self.task,
            "score": None if self.score is None else round(self.score, 4),
            "latency_ms": round(self.latency_ms, 1),
            "p_help": None if self.p_help is None else round(self.p_help, 4),
            "anchor": None if self.anchor is None else self.anchor.to_json(),
            "activity": None if act is None else act.to_dict(),
            "reason": self.reason,
        }


def _nothing_suppressed(task: str) -> bool:
    return False


@dataclass(frozen=True)
class Adaptation:
    """How a desktop's past answers adjust the loop's next decision for it.

    ``trigger_offset`` is added to the trigger's logit (negative: speak less
    readily), ``interval_extra_s`` to the minimum interval between proposals;
    ``suppressed(task)`` is True for a task too similar to one the user
    rejected recently.
    """

    trigger_offset: float = 0.0
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
    """Inverse of ``dataclasses.asdict`` for `Observation` (used by stores and relays).

    A nested ``activity`` dict becomes an `Activity` (leniently, see
    `activity_from_dict`); None or absent stays None.
    """
    values = {k: d[k] for k in Observation.__dataclass_fields__ if k in d}
    act = values.get("activity")
    if act is not None and not isinstance(act, Activity):
        values["activity"] = activity_from_dict(act)[0]
    return Observation(**values)


def observation_to_dict(o: Observation) -> dict[str, Any]:
    return asdict(o)
