"""The proactive agent: from recent observations to "propose this task" or silence.

The response has the published ProactiveAgent shape (Purpose, Thoughts,
Proactive Task or null, Response). A 135M model writes weak free text, so the
structure carries it: a JSON schema with short string fields constrains the
output, the prompt shows only a bounded window of recent events (never the
whole history), and `PromptContext` adds what the memory retrieved (relevant
records, the current plan, similar tasks the user accepted before).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from edge.llm import LLM, Message
from edge.records import AgentResponse, Anchor, Observation, PromptContext

SYSTEM_PROMPT = (
    "You are a proactive assistant on the user's computer. You read the user's recent events and "
    'decide whether to offer one concrete task now. Use null for "Proactive Task" when the user is '
    "doing fine alone. Reply in JSON."
)

# Tasks must start with an action verb: tiny models otherwise restate the event
# ("The user is working on ...") instead of offering something to do.
TASK_VERBS = "Explain|Write|Find|Summarize|Draft|Fix|Show|Suggest|Create|Check|Compare|List|Translate|Outline"

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Purpose": {"type": "string", "maxLength": 100},
        "Thoughts": {"type": "string", "maxLength": 140},
        "Proactive Task": {
            "anyOf": [
                {"type": "string", "pattern": f'^({TASK_VERBS}) [^"\\\\]{{8,100}}$'},
                {"type": "null"},
            ]
        },
        "Response": {"type": "string", "maxLength": 140},
    },
    "required": ["Purpose", "Thoughts", "Proactive Task", "Response"],
}

# Two contrasting worked examples, given as earlier chat turns. A 135M model
# copies prose instructions verbatim; examples of the shape work far better.
FEW_SHOT: list[tuple[list[str], dict[str, Any]]] = [
    (
        ["The user opens 'report.docx' in Microsoft Word.", "The user types the title 'Quarterly sales'."],
        {
            "Purpose": "The user starts writing a sales report.",
            "Thoughts": "The user is writing without trouble; no help is needed yet.",
            "Proactive Task": None,
            "Response": "",
        },
    ),
    (
        [
            "The user edits 'app.js' in Visual Studio Code.",
            "The user runs the tests and sees 'TypeError: undefined is not a function'.",
            "The user searches Google for 'undefined is not a function'.",
        ],
        {
            "Purpose": "The user wants to fix a TypeError in app.js.",
            "Thoughts": "The user is stuck on an error and searching; an explanation would help.",
            "Proactive Task": "Explain the TypeError in app.js and suggest a fix.",
            "Response": "I can explain that TypeError and propose a fix for app.js. Want me to?",
        },
    ),
]

_NULLISH = {"", "null", "none", "n/a", "no task", "nothing"}

# Phrasing mode: the trigger already decided that help is due now, and the structure names
# what it is about (the anchor). The model only words one task about it; silence is not an option.
PHRASE_SYSTEM_PROMPT = (
    "You are a proactive assistant on the user's computer. The user may need help right now with the "
    'item named after "Help with". Offer one concrete task about exactly that item. Reply in JSON.'
)
PHRASE_SCHEMA: dict[str, Any] = {
    **RESPONSE_SCHEMA,
    "properties": {
        **RESPONSE_SCHEMA["properties"],
        "Proactive Task": {"type": "string", "pattern": f'^({TASK_VERBS}) [^"\\\\]{{8,100}}$'},
    },
}
_ANCHOR_WORDS = {
    "error": "the error",
    "query": "the search query",
    "file": "the file",
    "document": "the document",
    "page": "the page",
    "command": "the command",
}
PHRASE_SHOT: list[tuple[list[str], Anchor, dict[str, Any]]] = [
    (
        [
            "The user edits 'app.js' in Visual Studio Code.",
            "The user runs the tests and sees 'TypeError: undefined is not a function'.",
        ],
        Anchor("error", "TypeError: undefined is not a function"),
        {
            "Purpose": "The user wants the tests of app.js to pass.",
            "Thoughts": "A TypeError stops the tests; explaining it is the quickest help.",
            "Proactive Task": "Explain the TypeError: undefined is not a function and suggest a fix.",
            "Response": "I can explain that TypeError and propose a fix for app.js. Want me to?",
        },
    ),
    (
        [
            "The user opens 'sales.xlsx' in Microsoft Excel.",
            "The user searches Google for 'pivot table by month excel'.",
        ],
        Anchor("query", "pivot table by month excel"),
        {
            "Purpose": "The user wants a monthly summary of the sales sheet.",
            "Thoughts": "The user is looking up pivot tables; short steps would save the search.",
            "Proactive Task": "Show the steps to build a pivot table by month in Excel.",
            "Response": "Want the steps to group your sales by month with a pivot table?",
        },
    ),
]


def help_line(anchor: Anchor | None) -> str:
    """What the help is about, as the prompt names it."""
    if anchor is None:
        return "Help with: the latest event"
    return f"Help with: {_ANCHOR_WORDS.get(anchor.kind, 'the item')} '{anchor.text}'"


def build_phrase_messages(
    window: Sequence[Observation], anchor: Anchor | None, context: PromptContext | None = None
) -> list[Message]:
    """The chat messages that ask for one task about ``anchor``. Pure; the prefix never changes."""
    messages: list[Message] = [{"role": "system", "content": PHRASE_SYSTEM_PROMPT}]
    for events, shot_anchor, answer in PHRASE_SHOT:
        messages.append({"role": "user", "content": f"{format_events(events)}\n{help_line(shot_anchor)}"})
        messages.append({"role": "assistant", "content": json.dumps(answer)})
    last = build_messages(window, context)[-1]["content"]
    messages.append({"role": "user", "content": f"{last}\n{help_line(anchor)}"})
    return messages


def format_events(texts: Sequence[str]) -> str:
    """Events oldest first, numbered, then the latest one named again."""
    lines = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(texts))
    return f"Events:\n{lines}\nLatest event: {texts[-1]}" if texts else "Events: none"


def build_messages(window: Sequence[Observation], context: PromptContext | None = None) -> list[Message]:
    """The chat messages for one decision. Pure: the same input gives the same prompt."""
    messages: list[Message] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for events, answer in FEW_SHOT:
        messages.append({"role": "user", "content": format_events(events)})
        messages.append({"role": "assistant", "content": json.dumps(answer)})
    parts: list[str] = []
    if context and context.plan:
        parts.append(f"What the user is working on: {context.plan}")
    if context and context.memories:
        parts.append("Relevant memories:\n" + "\n".join(f"- {m}" for m in context.memories))
    if context and context.accepted_examples:
        examples = "\n".join(f"- {t}" for t in context.accepted_examples)
        parts.append(f"Tasks the user accepted before:\n{examples}")
    parts.append(format_events([o.text for o in window]))
    messages.append({"role": "user", "content": "\n\n".join(parts)})
    return messages


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

    def __init__(self, llm: LLM, window: int = 8, max_tokens: int = 256) -> None:
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

    def phrase(
        self, recent: Sequence[Observation], anchor: Anchor | None, context: PromptContext | None = None
    ) -> AgentResponse:
        """One task about ``anchor`` for the newest ``window`` observations (the trigger has fired).

        Raises `edge.errors.ModelError` when the model fails or returns non-JSON.
        """
        window = list(recent)[-self.window :]
        messages = build_phrase_messages(window, anchor, context)
        obj = self.llm.chat_json(messages, PHRASE_SCHEMA, max_tokens=self.max_tokens)
        return parse_response(obj)
