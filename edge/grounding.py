"""Grounding a proposal in what the user is doing: the anchor, its deterministic task, and the checks.

Once the trigger decides to speak, help is about an *anchor* the structured
window already names: the query searched, the error shown, the page read, the
file edited. `anchor_of` picks it; `template_task` is the deterministic task
for it ("Find an answer to 'X'", "Explain the error 'Y'", "Summarize 'T'");
`task_problem` says why an LLM-written task cannot be proposed as it is
(looping, not mentioning the anchor). Pure functions, no model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from edge.records import ANCHOR_KINDS, Activity, Anchor, Observation
from edge.sources.sentences import parse

# How far back (events) to look for an anchor: the newest one that names an object wins.
LOOKBACK = 8
ANCHOR_MAX = 80

_TEMPLATES = {
    "error": "Explain the error '{x}' and how to fix it",
    "query": "Find an answer to '{x}'",
    "file": "Review '{x}' and suggest a next step",
    "document": "Suggest how to continue '{x}'",
    "page": "Summarize '{x}'",
    "command": "Explain what the command '{x}' does",
}
_WORD = re.compile(r"[\w']+")
_STOP = frozenset(
    ["a", "an", "the", "to", "of", "for", "and", "or", "in", "on", "with", "how", "what", "why", "is"]
    + ["are", "do", "does", "can", "i", "my", "me", "you", "your", "it", "this", "that", "be", "by"]
    + ["at", "as", "from", "into", "about"]
)


def activity_of(obs: Observation) -> Activity:
    """The observation's structure, parsed from its sentence when the source gave none."""
    return obs.activity if obs.activity is not None else parse(obs.text)


def _clip(text: str) -> str:
    text = " ".join(text.split()).strip(" '\"")
    return text if len(text) <= ANCHOR_MAX else text[: ANCHOR_MAX - 1].rstrip() + "…"


def anchor_of(window: Sequence[Observation]) -> Anchor | None:
    """The object named by the newest event that names one (up to `LOOKBACK` events back), or None.

    Events such as "switches back to the editor" or "updates the notes" name
    nothing; help then is about what the user last searched, read or edited.
    """
    for obs in list(window)[::-1][:LOOKBACK]:
        a = activity_of(obs)
        if a.object_kind in ANCHOR_KINDS and a.object_text.strip():
            return Anchor(a.object_kind, _clip(a.object_text))
    return None


def template_task(anchor: Anchor) -> str:
    """The deterministic task for ``anchor``."""
    return _TEMPLATES[anchor.kind].format(x=anchor.text) + "."


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def mentions(task: str, anchor: Anchor) -> bool:
    """True when ``task`` names the anchor: its text, or at least half of its content words."""
    t = task.lower()
    if " ".join(anchor.text.lower().split()) in " ".join(t.split()):
        return True
    words = set(_content_words(anchor.text))
    if not words:
        return True
    found = set(_content_words(task)) & words
    return len(found) * 2 >= len(words)


def loops(text: str) -> bool:
    """True when a phrase repeats: a run of 4+ words twice, or of 3 words three times, or a word 4 times."""
    words = [w.strip(".,;:!?'\"()").lower() for w in text.split()]
    words = [w for w in words if w]
    for n, times in ((4, 2), (3, 3)):
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        if grams and max(grams.values()) >= times:
            return True
    counts = Counter(w for w in words if w not in _STOP)
    return bool(counts) and max(counts.values()) >= 4


def task_problem(task: str | None, anchor: Anchor | None) -> str | None:
    """Why an LLM-written task cannot be proposed as it is, or None when it can."""
    if not task or not task.strip():
        return "no task"
    if loops(task):
        return "the task loops"
    if re.search(r"\b(?:latest|last) event\b|\bhelp with\b", task, re.IGNORECASE):
        return "the task echoes the prompt"
    if anchor is not None and not mentions(task, anchor):
        return "the task does not mention the anchor"
    return None
