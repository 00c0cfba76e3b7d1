"""The simulated user: a persona with a goal, a plan of activities, and a memory.

Every generation goes through the `LLM` protocol with a short JSON schema, so
the same code drives the embedded 135M model or a bigger model behind an
OpenAI-compatible endpoint. The user's memory is the stream of what happened
(their own events, the agent's help, their verdicts) plus periodic
reflections that move the plan forward, after Generative Agents.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.gym.scenes import Scene
from edge.llm import LLM, Message

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"event": {"type": "string", "pattern": '^The user [^"\\\\{}.]{10,120}[.]$'}},
    "required": ["event"],
}
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "steps": {
            "type": "array",
            "minItems": 2,
            "maxItems": 5,
            "items": {"type": "string", "pattern": '^[A-Z][a-z]+ [^"\\\\0-9]{8,70}$'},
        }
    },
    "required": ["steps"],
}
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"thought": {"type": "string", "maxLength": 100}, "answer": {"type": "boolean"}},
    "required": ["thought", "answer"],
}
REFLECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "insight": {"type": "string", "maxLength": 140},
        "step_done": {"type": "boolean"},
    },
    "required": ["insight", "step_done"],
}


@dataclass
class UserState:
    """Everything needed to resume the user: plan, progress, memory."""

    plan: list[str] = field(default_factory=list)
    step: int = 0
    memory: list[str] = field(default_factory=list)
    reflections: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan, "step": self.step, "memory": self.memory, "reflections": self.reflections}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UserState:
        return cls(
            plan=list(d["plan"]),
            step=int(d["step"]),
            memory=list(d["memory"]),
            reflections=list(d["reflections"]),
        )


class SimulatedUser:
    """Acts in a `Scene` towards its goal, one event at a time, and judges proposals."""

    def __init__(self, scene: Scene, llm: LLM, rng: random.Random, state: UserState | None = None) -> None:
        self.scene = scene
        self.llm = llm
        self.rng = rng
        self.state = state or UserState()

    # ------------------------------------------------------------ planning

    def ensure_plan(self) -> list[str]:
        """Decompose the goal into 2-5 activities (once; kept in the state)."""
        if not self.state.plan:
            messages: list[Message] = [
                {"role": "system", "content": "You plan a person's work session. Reply in JSON."},
                {
                    "role": "user",
                    "content": f"Person: {self.scene.persona}\nGoal: {self.scene.goal}\n"
                    "List 2 to 5 short activities, in order, that reach the goal.",
                },
            ]
            steps = [
                s.strip()
                for s in self.llm.chat_json(messages, PLAN_SCHEMA).get("steps", [])
                if str(s).strip()
            ]
            self.state.plan = steps[:5] or [self.scene.goal]
        return self.state.plan

    @property
    def current_activity(self) -> str:
        plan = self.ensure_plan()
        return plan[min(self.state.step, len(plan) - 1)]

    # ------------------------------------------------------------ acting

    def next_event(self, recent: Sequence[str]) -> str:
        """The user's next action as one benchmark-style sentence ("The user ...")."""
        user_examples = [e for e in self.scene.events_example if e.startswith("The user")]
        example = self.rng.choice(user_examples) if user_examples else "The user opens a web browser."
        insight = f"\nWhat you realised: {self.state.reflections[-1]}" if self.state.reflections else ""

        def ask(history: Sequence[str], activity: str) -> str:
            lines = "\n".join(f"- {e}" for e in history[-6:]) or "- (nothing yet)"
            return f"Goal: {self.scene.goal}\nCurrent activity: {activity}\nWhat happened so far:\n{lines}"

        messages: list[Message] = [
            {
                "role": "system",
                "content": f"You simulate this computer user: {self.scene.persona} Setting: "
                f"{self.scene.description} Write the user's next single action as one short sentence "
                "starting with 'The user'. Reply in JSON.",
            },
            {"role": "user", "content": ask([], self.ensure_plan()[0])},
            {"role": "assistant", "content": json.dumps({"event": example})},
            {"role": "user", "content": ask(recent, self.current_activity) + insight},
        ]
        event = str(self.llm.chat_json(messages, EVENT_SCHEMA, max_tokens=80)["event"]).strip()
        self.state.memory.append(event)
        return event

    def remember(self, text: str) -> None:
        self.state.memory.append(text)

    def reflect(self) -> str:
        """Reflect on recent memory: an insight, and whether the current activity is done."""
        recent = "\n".join(f"- {m}" for m in self.state.memory[-8:])
        messages: list[Message] = [
            {"role": "system", "content": "You reflect on your own recent work. Reply in JSON."},
            {
                "role": "user",
                "content": f"Goal: {self.scene.goal}\nCurrent activity: {self.current_activity}\n"
                f"Recent events:\n{recent}\nWhat is the key insight, and is the current activity done?",
            },
        ]
        out = self.llm.chat_json(messages, REFLECT_SCHEMA, max_tokens=100)
        insight = str(out.get("insight", "")).strip()
        if insight:
            self.state.reflections.append(insight)
        if out.get("step_done") and self.state.step < len(self.ensure_plan()) - 1:
            self.state.step += 1
        return insight

    # ------------------------------------------------------------ judging

    def _ask(self, recent: Sequence[str], question: str) -> bool:
        history = "\n".join(f"- {e}" for e in recent[-6:])
        messages: list[Message] = [
            {"role": "system", "content": f"You are this person: {self.scene.persona} Reply in JSON."},
            {
                "role": "user",
                "content": f"Your goal: {self.scene.goal}\nWhat you just did:\n{history}\n{question}",
            },
        ]
        return bool(self.llm.chat_json(messages, VERDICT_SCHEMA, max_tokens=80).get("answer"))

    def accepts(self, recent: Sequence[str], task: str) -> bool:
        """Would the user accept the assistant's offer ``task`` now?"""
        return self._ask(recent, f"An assistant offers: {json.dumps(task)}. Do you accept?")

    def needs_help(self, recent: Sequence[str]) -> bool:
        """Would the user welcome help right now?"""
        return self._ask(recent, "Would help from an assistant be welcome right now?")
