"""The shipped reward gate (integration: real MiniLM ONNX encoder + ONNX head)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.errors import EdgeError, ModelError
from edge.reward import OnnxRewardModel, RewardModel

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "edge" / "data" / "proactivebench" / "reward_train.jsonl"
WINDOW = [
    {"time": "Day 1, 11:00 PM", "event": "The user opens Visual Studio Code and creates 'data_analysis.py'."},
    {"time": "Day 1, 11:05 PM", "event": "The user types 'import pandas as pd' in 'data_analysis.py'."},
    {
        "time": "Day 1, 11:08 PM",
        "event": "The user searches the web for 'how to import CSV file using pandas'.",
    },
    {"time": "Day 1, 11:10 PM", "event": "The user opens the first search result, a pandas CSV tutorial."},
]


@pytest.fixture(scope="module")
def model() -> OnnxRewardModel:
    return OnnxRewardModel()


def test_loads_with_thresholds(model: OnnxRewardModel) -> None:
    assert isinstance(model, RewardModel)
    assert 0.0 < model.silence_threshold < 1.0
    assert 0.0 < model.task_threshold < 1.0
    assert model.metadata["cv"]["rows"] == 1180


def test_scores_in_unit_interval_and_deterministic(model: OnnxRewardModel) -> None:
    tasks = [None, "Provide a tutorial on reading CSV files with pandas", "Book a flight to Paris"]
    first = model.score_many(WINDOW, tasks)
    assert all(0.0 <= p <= 1.0 for p in first)
    model.cache.clear()
    assert model.score_many(WINDOW, tasks) == first
    assert model.score(WINDOW, tasks[1]) == pytest.approx(first[1], abs=1e-3)


def test_silence_and_task_scores_differ(model: OnnxRewardModel) -> None:
    silence = model.score(WINDOW, None)
    task = model.score(WINDOW, "Provide a tutorial on reading CSV files with pandas")
    assert abs(silence - task) > 1e-3


def test_cache_reencodes_only_new_events(model: OnnxRewardModel) -> None:
    model.cache.clear()
    model.score(WINDOW[:3], None)
    misses = model.cache.misses
    model.score(WINDOW, None)
    # new: the last event and the joined last three events
    assert model.cache.misses - misses == 2


def test_bad_model_path_is_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        OnnxRewardModel(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError):
        OnnxRewardModel(bad)


def test_eval_command_reports_published_metrics(tmp_path: Path) -> None:
    from edge.commands.reward import eval_reward_cmd

    rows = DATA.read_text(encoding="utf-8").splitlines()[:12]
    small = tmp_path / "rows.jsonl"
    small.write_text("\n".join(rows) + "\n", encoding="utf-8")
    res = CliRunner().invoke(eval_reward_cmd, ["--data", str(small), "--json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)
    assert m["rows"] == 12
    assert set(m) >= {"accuracy", "precision", "recall", "f1", "MN", "CR", "CD", "FA", "rows"}


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    from edge.reward_train import load_rows

    bad = tmp_path / "rows.jsonl"
    good = DATA.read_text(encoding="utf-8").splitlines()[0]
    bad.write_text(good + "\n{not json\n", encoding="utf-8")
    with pytest.raises(EdgeError) as e:
        load_rows(bad)
    assert f"{bad}:2:" in e.value.msg
    with pytest.raises(EdgeError) as e:
        load_rows(tmp_path / "missing.jsonl")
    assert "missing.jsonl" in e.value.msg


def test_doctor_gate_check(tmp_path: Path) -> None:
    from edge.config import Settings
    from edge.doctor import check_gate

    ok = check_gate(Settings())
    assert ok.ok and "reward.onnx" in ok.detail
    missing = check_gate(Settings.model_validate({"reward": {"model_path": str(tmp_path / "none.onnx")}}))
    assert not missing.ok and "proactive reward train" in missing.hint
