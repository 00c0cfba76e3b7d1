from __future__ import annotations

import json
from pathlib import Path

from edge.bench.judged import judge_traces, tasks_of
from tests.test_cli import proactive


class Judge:
    silence_threshold = 0.5
    task_threshold = 0.5

    def score(self, window, task):  # type: ignore[no-untyped-def]
        return self.score_many(window, [task])[0]

    def score_many(self, window, tasks):  # type: ignore[no-untyped-def]
        last = window[-1]["event"]
        return [(0.9 if "stuck" in last else 0.1) if t else (0.2 if "stuck" in last else 0.8) for t in tasks]


def test_tasks_of_upstream_shapes() -> None:
    assert tasks_of([{"Proactive Task": "Fix it"}, {"Proactive Task": None}]) == ["Fix it"]
    assert (
        tasks_of({"Proactive Task": "null"}) == [] and tasks_of(None) == [] and tasks_of(["Do x"]) == ["Do x"]
    )


def test_published_rule_hand_computed() -> None:
    events = [
        {"time": "1", "event": "typing"},
        {"time": "2", "event": "stuck"},
        {"time": "3", "event": "stuck"},
        {"time": "4", "event": "typing"},
    ]
    # propose at 0 (FP), propose at 1 (TP), silent at 2 (FN), silent at 3 (TN)
    r = judge_traces(Judge(), [("t", events, [["a"], ["b"], [], []])], 0.5, 0.5)  # type: ignore[arg-type]
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (1, 1, 1, 1) and r["f1"] == 0.5


def test_eval_judge_with_the_shipped_reward_model(tmp_path: Path) -> None:
    d = tmp_path / "t"
    d.mkdir()
    rows = [
        {
            "observation": {"time": "1", "event": "The user opens VS Code."},
            "agent_response": [{"Proactive Task": None}],
        },
        {
            "observation": {"time": "2", "event": "The user searches Google for 'ruby split string'."},
            "agent_response": [{"Proactive Task": "Explain how to split a string in Ruby."}],
        },
    ]
    (d / "agent.json").write_text(json.dumps(rows))
    r = proactive("eval", "judge", str(d), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["events"] == 2 and out["tp"] + out["fp"] == 1 and out["tn"] + out["fn"] == 1
    (d / "agent.json").write_text(json.dumps({"name": "x", "events": [{"time": "1", "event": "e"}]}))
    bad = proactive("eval", "judge", str(d))
    assert bad.returncode == 2 and "no agent_response" in bad.stderr


def test_eval_bench_replays_our_loop_under_the_judge(tmp_path: Path) -> None:
    d = tmp_path / "t"
    d.mkdir()
    events = [
        {"time": str(i), "event": e}
        for i, e in enumerate(["The user opens VS Code.", "The user types code in 'main.py'."])
    ]
    (d / "a.json").write_text(json.dumps({"name": "a", "events": events}))
    r = proactive("eval", "bench", "--traces", str(d), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["events"] == 2 and out["traces"] == 1
    assert out["tp"] + out["fp"] + out["tn"] + out["fn"] == 2
