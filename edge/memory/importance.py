"""Importance (poignancy) of a memory record, 1 = mundane to 10 = life-changing.

Two scorers: `cheap_importance` is deterministic and instant, used for every
record at insert so ingestion never waits for a model; `LLMImportance` asks
the LLM the Generative Agents poignancy question, caches the answer by text
hash and model, and is run lazily in batches (during reflection) to replace
the cheap estimates of the newest records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from edge.errors import ModelError
from edge.llm import LLM, Message
from edge.memory.prompts import messages
from edge.store.memory import MemoryDB, text_hash

log = logging.getLogger(__name__)

# (pattern, points): matched case-insensitively against the record text.
_SIGNALS: list[tuple[re.Pattern[str], int]] = [
    (
        re.compile(
            r"\b(error|exception|traceback|failed|failure|fails|crash(ed|es)?|bug|broken|segfault)\b", re.I
        ),
        3,
    ),
    (
        re.compile(r"\b(deadline|due|urgent|asap|submit|submission|exam|interview|meeting|tomorrow)\b", re.I),
        2,
    ),
    (
        re.compile(
            r"\b(search(es|ed|ing)?|google[sd]?|how to|stack ?overflow|docs?|documentation|tutorial)\b", re.I
        ),
        1,
    ),
    (re.compile(r"\b(undo(es|ne)?|retr(y|ies|ied)|again|repeated(ly)?|stuck|confus\w*)\b", re.I), 1),
    (re.compile(r"\b(email|message|reply|replies|writes? to|pay(ment)?|invoice|bank)\b", re.I), 1),
]
_MUNDANE = re.compile(
    r"\b(scroll(s|ed|ing)?|switch(es|ed)? (back )?to|idle|afk|minimi[sz]es?|opens? (a|the) new tab)\b", re.I
)

_BASE = {"observation": 2, "proposal": 3, "feedback": 4, "reflection": 5, "plan": 5}

POIGNANCY_SYSTEM = (
    "You rate memories of a computer user. On a scale of 1 to 10, 1 is purely mundane "
    "(switching windows, scrolling a page) and 10 is extremely poignant (a failed release, "
    "a missed deadline, losing work). Answer in JSON."
)
POIGNANCY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"rating": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["rating"],
}


def cheap_importance(kind: str, text: str) -> int:
    """A deterministic 1-10 estimate from the record kind and keywords."""
    score = _BASE.get(kind, 2)
    for pattern, points in _SIGNALS:
        if pattern.search(text):
            score += points
    if kind == "feedback" and re.search(r"\baccepted\b", text, re.I):
        score += 2
    if _MUNDANE.search(text) and score <= 3:
        score -= 1
    return max(1, min(10, score))


def poignancy_messages(text: str) -> list[Message]:
    return messages(f"Memory: {text[:400]}\nRate its poignancy from 1 to 10.", POIGNANCY_SYSTEM)


class LLMImportance:
    """The paper's poignancy prompt through ``LLM.chat_json``, cached in SQLite."""

    def __init__(self, llm: LLM, records: MemoryDB) -> None:
        self.llm = llm
        self.records = records

    def score(self, text: str) -> int:
        """1-10 for ``text``. Raises `ModelError` when the model fails."""
        th = text_hash(text)
        cached = self.records.cached_importance(th, self.llm.name)
        if cached is not None:
            return cached
        obj = self.llm.chat_json(poignancy_messages(text), POIGNANCY_SCHEMA, max_tokens=12)
        try:
            rating = int(obj["rating"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{self.llm.name} gave no rating: {obj!r}", "Check the model.") from e
        rating = max(1, min(10, rating))
        self.records.add_cache(th, self.llm.name, rating)
        return rating

    def rescore(self, limit: int, kinds: Sequence[str] | None = None) -> int:
        """Re-score up to ``limit`` newest cheaply scored records; return how many changed.

        The stored importance is the mean of the LLM rating and the cheap estimate.

        A model failure stops the batch (logged); what was scored is kept.
        """
        done: dict[int, int] = {}
        for mem in self.records.cheap_scored(limit, kinds):
            try:
                # Averaged with the keyword estimate: a 135M rater answers 10 far too often.
                done[mem.id] = round((self.score(mem.text) + mem.importance) / 2)
            except ModelError as e:
                log.warning("importance rescoring stopped: %s", e.msg)
                break
        if done:
            self.records.set_importance(done, "llm")
        return len(done)
