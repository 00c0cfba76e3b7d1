"""A short gym run through the CLI with the real embedded model: well-formed files."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SHARED_DATA
from tests.test_cli import proactive

pytestmark = pytest.mark.integration


def test_short_real_gym_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "gym"
    r = proactive(
        "gym",
        "generate",
        "--scene",
        str(SHARED_DATA / "scenes" / "scenes.yaml"),
        "--out",
        str(out),
        "--steps",
        "2",
        "--seed",
        "7",
        "--reflect-every",
        "2",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["steps"] == 2 and summary["reward_rows"] == 2
    trace = json.loads((out / "trace.json").read_text())
    user_events = [e for e in trace["events"] if e["event"].startswith("The user ")]
    assert len(user_events) == 2
    for line in (out / "reward_rows.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row["obs"] and isinstance(row["valid"], bool)
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 2 and 2 <= len(state["user"]["plan"]) <= 5


def test_bad_scene_file_exits_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "s.yaml"
    bad.write_text("- environment: {}\n")
    r = proactive("gym", "generate", "--scene", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Error: " in r.stderr and "Hint: " in r.stderr
