"""One gym episode: the simulated user acts, our loop decides, a judge answers.

Per step: the user writes its next event; the loop (gate, agent, store) decides
to propose or stay silent; the judge (the simulated user, or the reward model)
answers. An accepted proposal produces the agent's events, which enter the
trace and the user's memory; a rejected one leaves the user to carry on
alone. Every few steps the user reflects, which may advance its plan.

Outputs in ``out_dir`` (all rewritten or appended step by step, so an
interrupted run resumes where it stopped):

* ``trace.json`` - the shared trace format, ``help_needed`` from the judge;
* ``reward_rows.jsonl`` - rows in the format of ``reward_train.jsonl``;
* ``sharegpt.jsonl`` + ``dataset_info.json`` - agent fine-tuning data in the
  ShareGPT format LLaMA-Factory reads (see `sharegpt_row`);
* ``state.json`` - what resuming needs (scene, seed, step, RNG, user state).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from edge.agent import SYSTEM_PROMPT, build_messages
from edge.errors import ConfigError
from edge.gym.scenes import Scene
from edge.gym.user import SimulatedUser, UserState
from edge.loop import Loop
from edge.records import AgentResponse, Observation
from edge.reward_metrics import category


class Judge(Protocol):
    """Answers for the user: accept this task now? would help be welcome now?"""

    name: str

    def accepts(self, recent: Sequence[str], task: str) -> bool: ...

    def needs_help(self, recent: Sequence[str]) -> bool: ...


class UserJudge:
    """The simulated user answers for itself (an LLM call per question)."""

    name = "user"

    def __init__(self, user: SimulatedUser) -> None:
        self.user = user

    def accepts(self, recent: Sequence[str], task: str) -> bool:
        return self.user.accepts(recent, task)

    def needs_help(self, recent: Sequence[str]) -> bool:
        return self.user.needs_help(recent)


def third_person(task: str) -> str:
    """'Explain the error.' -> 'explains the error.' (for the agent's own events)."""
    verb, _, rest = task.partition(" ")
    v = verb.lower()
    if v.endswith(("s", "sh", "ch", "x", "z")):
        v += "es"
    elif v.endswith("y") and v[-2:-1] not in "aeiou":
        v = v[:-1] + "ies"
    else:
        v += "s"
    return f"{v} {rest}".strip()


def agent_events(task: str) -> list[str]:
    """What the trace shows when the user accepts ``task``."""
    return [
        f"The agent {third_person(task).rstrip('.')}.",
        "The agent shows the result to the user in a notification.",
    ]


def sharegpt_row(step: int, window: Sequence[Observation], response: AgentResponse) -> dict[str, Any]:
    """One fine-tuning example: the agent's prompt (without the few-shot turns) and the target.

    Format (LLaMA-Factory "sharegpt"): ``{"system", "conversations": [{"from":
    "human", "value": prompt}, {"from": "gpt", "value": JSON response}]}``.
    The target is the response the judge endorsed: the accepted proposal, or a
    null task where silence was right or the proposal was rejected.
    """
    prompt = build_messages(window)[-1]["content"]
    return {
        "step": step,
        "system": SYSTEM_PROMPT,
        "conversations": [
            {"from": "human", "value": prompt},
            {"from": "gpt", "value": json.dumps(response.to_json(), ensure_ascii=False)},
        ],
    }


def sim_time(minutes: int) -> str:
    """Minutes since Day 1, 9:00 AM as the simulated traces write time: 'Day 1, 9:05 AM'."""
    total = 9 * 60 + minutes
    day, rest = divmod(total, 24 * 60)
    h, m = divmod(rest, 60)
    return f"Day {day + 1}, {(h % 12) or 12}:{m:02d} {'AM' if h < 12 else 'PM'}"


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _keep_rows_before(path: Path, step: int) -> None:
    """Drop rows written for steps that the saved state does not cover (a crash mid-step)."""
    if not path.exists():
        return
    rows = [r for r in path.read_text(encoding="utf-8").splitlines() if r and json.loads(r)["step"] < step]
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")


class GymRun:
    """One seeded, resumable episode of ``steps`` user events in ``scene``."""

    def __init__(
        self,
        scene: Scene,
        out_dir: Path,
        loop: Loop,
        user: SimulatedUser,
        judge: Judge,
        seed: int,
        steps: int,
        reflect_every: int = 5,
    ) -> None:
        self.scene, self.out, self.loop, self.user, self.judge = scene, out_dir, loop, user, judge
        self.seed, self.steps, self.reflect_every = seed, steps, reflect_every
        self.name = f"gym_{scene.name}_s{seed}"
        self.events: list[dict[str, Any]] = []
        self.minutes = 0
        self.step = 0
        out_dir.mkdir(parents=True, exist_ok=True)
        self._resume()

    # ------------------------------------------------------------ state

    def _resume(self) -> None:
        state_path = self.out / "state.json"
        if not state_path.exists():
            return
        st = json.loads(state_path.read_text(encoding="utf-8"))
        if (st["scene"], st["seed"]) != (self.scene.name, self.seed):
            raise ConfigError(
                f"{self.out} holds a run of scene {st['scene']} seed {st['seed']}.",
                "Use another --out folder, or the same scene and seed to resume.",
            )
        self.step, self.minutes, self.events = st["step"], st["minutes"], st["events"]
        version, internal, gauss = st["rng"]
        self.user.rng.setstate((version, tuple(internal), gauss))
        self.user.state = UserState.from_json(st["user"])
        for path in (self.out / "reward_rows.jsonl", self.out / "sharegpt.jsonl"):
            _keep_rows_before(path, self.step)
        for i, e in enumerate(self.events):  # rebuild the loop's windows and repeat check
            self.loop.observe(self._obs(e, i))
        rows = self.out / "reward_rows.jsonl"
        for line in rows.read_text(encoding="utf-8").splitlines() if rows.exists() else []:
            row = json.loads(line)
            if row.get("pred_task"):
                self.loop.recall("gym", row["pred_task"], row.get("anchor") or "")

    def _save(self) -> None:
        _write_json(self.out / "trace.json", {"name": self.name, "events": self.events})
        _write_json(
            self.out / "state.json",
            {
                "scene": self.scene.name,
                "seed": self.seed,
                "step": self.step,
                "minutes": self.minutes,
                "events": self.events,
                "rng": self.user.rng.getstate(),
                "user": self.user.state.to_json(),
            },
        )

    def _append(self, name: str, row: dict[str, Any]) -> None:
        with (self.out / name).open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _obs(self, e: dict[str, Any], i: int) -> Observation:
        return Observation(
            text=e["event"], time=e["time"], desktop="gym", source=f"gym:{self.name}", key=str(i)
        )

    def _add_event(self, text: str, help_needed: bool | None = None) -> Observation:
        self.minutes += self.user.rng.randint(1, 4)
        e = {"time": sim_time(self.minutes), "event": text, "help_needed": help_needed}
        self.events.append(e)
        return self._obs(e, len(self.events) - 1)

    # ------------------------------------------------------------ the episode

    def run(self, on_step: Callable[[int, str], None] | None = None) -> dict[str, Any]:
        """Run the remaining steps; return counts of what happened."""
        _write_json(
            self.out / "dataset_info.json",
            {
                "proactive_gym": {
                    "file_name": "sharegpt.jsonl",
                    "formatting": "sharegpt",
                    "columns": {"messages": "conversations", "system": "system"},
                }
            },
        )
        self.user.ensure_plan()
        while self.step < self.steps:
            self._one_step()
            self.step += 1
            if self.reflect_every and self.step % self.reflect_every == 0:
                self.user.reflect()
            self._save()
            if on_step is not None:
                on_step(self.step, self.events[-1]["event"])
        return self.summary()

    def _one_step(self) -> None:
        recent = [e["event"] for e in self.events]
        text = self.user.next_event(recent)
        obs = self._add_event(text)
        decision = self.loop.step(obs)
        window = [self._obs(e, i) for i, e in enumerate(self.events)][-self.loop.window :]
        seen = recent[-5:] + [text]
        if decision.proposed and decision.task:
            valid = self.judge.accepts(seen, decision.task)
            self.events[-1]["help_needed"] = True if valid else None
            verdict = "accepted" if valid else "rejected"
            self.user.remember(f"The assistant offered '{decision.task}' and the user {verdict} it.")
            target = decision.response if valid else None
            pred_task: str | None = decision.task
            help_needed: bool | None = True if valid else None
        else:
            help_needed = self.judge.needs_help(seen)
            self.events[-1]["help_needed"] = help_needed
            valid = not help_needed
            target = AgentResponse("", "No help is needed now.", None, "") if valid else None
            pred_task = None
        self._append(
            "reward_rows.jsonl",
            {
                "step": self.step,
                "obs": [{"time": o.time, "event": o.text} for o in window],
                "pred_task": pred_task,
                "valid": valid,
                "help_needed": help_needed,
                "category": category(pred_task, valid),
                "judge": self.judge.name,
                "source": self.name,
                "anchor": decision.anchor.key() if decision.proposed and decision.anchor else None,
            },
        )
        if target is not None:
            if decision.response is not None and target is not decision.response:
                target = AgentResponse(decision.response.purpose, decision.response.thoughts, None, "")
            self._append("sharegpt.jsonl", sharegpt_row(self.step, window, target))
        if decision.proposed and valid and decision.task:
            for text in agent_events(decision.task):
                agent_obs = self._add_event(text)
                self.loop.observe(agent_obs)
                self.user.remember(text)

    def summary(self) -> dict[str, Any]:
        rows = [json.loads(r) for r in (self.out / "reward_rows.jsonl").read_text().splitlines() if r]
        by_cat: dict[str, int] = {}
        for r in rows:
            by_cat[r["category"]] = by_cat.get(r["category"], 0) + 1
        return {
            "name": self.name,
            "out": str(self.out),
            "steps": self.step,
            "events": len(self.events),
            "reward_rows": len(rows),
            "categories": by_cat,
            "sharegpt_rows": sum(1 for _ in (self.out / "sharegpt.jsonl").open())
            if (self.out / "sharegpt.jsonl").exists()
            else 0,
            "plan": self.user.state.plan,
        }


def make_rng(seed: int) -> random.Random:
    return random.Random(seed)
