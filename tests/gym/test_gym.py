from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from edge.agent import Agent
from edge.errors import ConfigError, SourceError
from edge.gym.runner import GymRun, UserJudge, sim_time, third_person
from edge.gym.scenes import Scene, load_scenes
from edge.gym.user import SimulatedUser
from edge.llm import Message
from edge.loop import Loop
from tests.conftest import SHARED_DATA
from tests.doubles import FakeClock


class SchemaLLM:
    """Answers by the schema it is given; the n-th event and verdict depend only on n."""

    name = "schema"

    def __init__(self) -> None:
        self.events = 0
        self.verdicts = 0
        self.agent_calls = 0

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> str:
        return "ok"

    def chat_json(
        self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int | None = None
    ) -> dict[str, Any]:
        props = schema["properties"]
        if "steps" in props:
            return {"steps": ["Search for examples", "Write the code"]}
        if "event" in props:
            self.events += 1
            return {"event": f"The user works on part {self.events}."}
        if "answer" in props:
            self.verdicts += 1
            return {"thought": "t", "answer": self.verdicts % 3 != 0}
        if "insight" in props:
            return {"insight": "Progress is steady.", "step_done": True}
        self.agent_calls += 1
        task = "Explain part of the code." if self.agent_calls % 2 else None
        return {"Purpose": "p", "Thoughts": "t", "Proactive Task": task, "Response": "Shall I?"}

    def close(self) -> None:
        pass


SCENE = Scene(
    name="demo",
    description="A developer at home.",
    persona="Ana, a Python developer.",
    goal="Write a CSV parser.",
    events_example=["The user opens VS Code.", "The agent does something."],
)


def run_gym(out: Path, steps: int, seed: int = 1) -> GymRun:
    llm = SchemaLLM()
    user = SimulatedUser(SCENE, llm, random.Random(seed))
    loop = Loop(Agent(llm), FakeClock(), window=4)
    gym = GymRun(SCENE, out, loop, user, UserJudge(user), seed, steps, reflect_every=2)
    # the double's counters must continue where an interrupted run stopped
    llm.events = gym.step
    llm.verdicts = gym.step
    llm.agent_calls = gym.step
    gym.run()
    return gym


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_outputs_are_well_formed(tmp_path: Path) -> None:
    gym = run_gym(tmp_path, steps=4)
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace["name"] == "gym_demo_s1"
    user_events = [e for e in trace["events"] if e["event"].startswith("The user")]
    assert len(user_events) == 4
    for e in trace["events"]:
        assert set(e) == {"time", "event", "help_needed"} and e["time"].startswith("Day 1, ")
    reward = rows(tmp_path / "reward_rows.jsonl")
    assert [r["step"] for r in reward] == [0, 1, 2, 3]
    for r in reward:
        assert r["obs"] and set(r["obs"][0]) == {"time", "event"}
        assert isinstance(r["valid"], bool)
        assert r["category"] in {
            "Correct-Rejection (CR)",
            "Missed-Need (MN)",
            "Correct-Detection (CD)",
            "False-Alarm (FA)",
        }
        assert (r["pred_task"] is None) == (r["category"] in {"Correct-Rejection (CR)", "Missed-Need (MN)"})
    accepted = [r for r in reward if r["category"] == "Correct-Detection (CD)"]
    if accepted:  # an accepted proposal puts the agent's events in the trace
        assert any(e["event"].startswith("The agent explains") for e in trace["events"])
    for r in rows(tmp_path / "sharegpt.jsonl"):
        convo = r["conversations"]
        assert [c["from"] for c in convo] == ["human", "gpt"] and r["system"]
        assert set(json.loads(convo[1]["value"])) == {"Purpose", "Thoughts", "Proactive Task", "Response"}
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["proactive_gym"]["formatting"] == "sharegpt"
    assert gym.user.state.step == 1  # the reflection moved the plan on


def test_resume_gives_the_same_result_as_one_run(tmp_path: Path) -> None:
    run_gym(tmp_path / "once", steps=4)
    run_gym(tmp_path / "twice", steps=2)
    run_gym(tmp_path / "twice", steps=4)  # resumes at step 2
    for name in ("trace.json", "reward_rows.jsonl", "sharegpt.jsonl"):
        assert (tmp_path / "once" / name).read_text() == (tmp_path / "twice" / name).read_text(), name


def test_resume_refuses_another_scene_or_seed(tmp_path: Path) -> None:
    run_gym(tmp_path, steps=1, seed=1)
    with pytest.raises(ConfigError, match="seed 1"):
        run_gym(tmp_path, steps=2, seed=2)


def test_helpers() -> None:
    assert (
        sim_time(0) == "Day 1, 9:00 AM"
        and sim_time(185) == "Day 1, 12:05 PM"
        and sim_time(24 * 60) == "Day 2, 9:00 AM"
    )
    assert third_person("Fix the bug.") == "fixes the bug."
    assert third_person("Summarize the page") == "summarizes the page"
    assert third_person("Write code") == "writes code"


def test_shared_scenes_load_and_bad_scenes_are_named(tmp_path: Path) -> None:
    scenes = load_scenes(SHARED_DATA / "scenes" / "scenes.yaml")
    assert len(scenes) == 68 and all(s.goal and s.persona for s in scenes)
    bad = tmp_path / "s.yaml"
    bad.write_text("- environment: {description: x}\n  user: {description: y}\n")
    with pytest.raises(SourceError, match="user.goal"):
        load_scenes(bad)
    bad.write_text("- [unclosed")
    with pytest.raises(SourceError, match="cannot be parsed"):
        load_scenes(bad)


class FixedReward:
    silence_threshold = 0.5
    task_threshold = 0.6

    def score(self, observations, task):  # type: ignore[no-untyped-def]
        return (
            0.7
            if task and "error" in task
            else (0.4 if task is None and "stuck" in observations[-1]["event"] else 0.55)
        )

    def score_many(self, observations, tasks):  # type: ignore[no-untyped-def]
        return [self.score(observations, t) for t in tasks]


def test_reward_judge_uses_the_model_thresholds() -> None:
    from edge.gym.judges import RewardJudge

    judge = RewardJudge(FixedReward())  # type: ignore[arg-type]
    assert judge.accepts(["The user runs tests."], "Explain the error")
    assert not judge.accepts(["The user runs tests."], "Write a poem")
    assert judge.needs_help(["The user is stuck."]) and not judge.needs_help(["The user types."])
