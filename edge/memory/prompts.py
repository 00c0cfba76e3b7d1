"""What the memory says to a small model, and which of its answers it keeps.

The prompts of reflection, plans and ``ask`` with the JSON schemas of their
answers, the guards that reject junk from a 135M model (`plausible`,
`loops`), and `take`, which fits texts into a character or token budget.
Pure functions: no store, no model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from edge.llm import Message

SYSTEM = "You study the activity of a computer user and answer in JSON."

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

ANSWER_SYSTEM = (
    "You are an assistant who has watched a computer user work. "
    "You answer questions about the user from your memories, briefly and truthfully."
)

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


def messages(user: str, system: str = SYSTEM) -> list[Message]:
    """A system and a user message."""
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def bullets(lines: list[str], numbered: bool = False) -> str:
    return "\n".join(f"{i + 1}. {t}" if numbered else f"- {t}" for i, t in enumerate(lines))


def questions_messages(statements: list[str], n: int) -> list[Message]:
    return messages(
        f"Statements about the user:\n{bullets(statements)}\n\n"
        f"Given only the statements above, what are the {n} most salient high-level "
        "questions we can answer about the user?"
    )


def insights_messages(statements: list[str], n: int) -> list[Message]:
    return messages(
        f"Statements about the user:\n{bullets(statements, numbered=True)}\n\n"
        f"What {n} high-level insights can you infer from the above statements? For each, "
        'give the insight and the numbers of the statements it is based on ("because").'
    )


def plan_messages(insights: list[str], recent: list[str]) -> list[Message]:
    return messages(
        f"Insights about the user:\n{bullets(insights)}\n\n"
        f"Latest activity:\n{bullets(recent)}\n\n"
        "In one sentence, what is the user working on? Then predict the user's next 3 activities."
    )


def answer_messages(question: str, memories: list[str], plan: str | None) -> list[Message]:
    """The interview prompt of `MemoryStream.ask`."""
    parts = [f"Current plan: {plan}"] if plan else []
    parts.append("Memories about the user:\n" + (bullets(memories) if memories else "(none)"))
    parts.append(f"Question: {question}\nAnswer in one or two sentences, using only the memories.")
    return messages("\n\n".join(parts), ANSWER_SYSTEM)


def take(items: Iterable[str], budget: int, size: Callable[[str], int], sep: int = 0) -> list[str]:
    """The leading ``items`` that fit in ``budget``: each costs ``size(item)``, and ``sep`` more after it."""
    out: list[str] = []
    used = 0
    for item in items:
        if used + size(item) > budget:
            break
        out.append(item)
        used += size(item) + sep
    return out


def fit_newest(texts: list[str], budget_chars: int, each: int = 200) -> list[str]:
    """Newest-last texts, deduplicated, cut to ``each`` characters, keeping the newest that fit."""
    newest_first = [t[:each] for t in reversed(list(dict.fromkeys(texts)))]
    return list(reversed(take(newest_first, budget_chars, len, 3)))


def clean(text: Any, limit: int) -> str:
    """``text`` as one line of at most ``limit`` characters."""
    return " ".join(str(text or "").split())[:limit].strip()


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
