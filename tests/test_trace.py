from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.errors import SourceError
from edge.sources.trace import TraceSource, load_trace, parse_trace, trace_files
from tests.conftest import SHARED_DATA


def test_every_bundled_trace_parses() -> None:
    files = trace_files(SHARED_DATA / "traces")
    assert len(files) == 22
    for f in files:
        t = load_trace(f)
        assert t.observations and all(o.text.startswith("The user") or o.text for o in t.observations)
        assert len({o.id for o in t.observations}) == len(t.observations)


def test_real_and_sim_times() -> None:
    real = load_trace(SHARED_DATA / "traces" / "code_11.json").observations[0]
    sim = load_trace(SHARED_DATA / "traces" / "sim_code_2.json").observations[0]
    assert real.ts == pytest.approx(1717377997.0)
    assert sim.ts is None and sim.time == "Day 1, 11:00 PM"
    assert real.help_needed in (True, False)


def test_upstream_format() -> None:
    data = [
        {"observation": {"time": "Day 1, 9:00 AM", "event": "The user opens a file."}, "agent_response": []},
        {"observation": {"time": "Day 1, 9:01 AM", "event": "The user types."}},
    ]
    t = parse_trace(data, "up")
    assert [o.text for o in t.observations] == ["The user opens a file.", "The user types."]
    assert t.extras[0] == {"agent_response": []}


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ('{"events": 3}', "must be a list"),
        ('{"events": [{"time": "1"}]}', "event 0: missing or empty 'event'"),
        ('[{"nope": 1}]', "item 0: missing 'observation'"),
        ('"a string"', "not a trace"),
        ('{"events": [{"time": "1", "event": "x", "help_needed": "yes"}]}', "help_needed"),
    ],
)
def test_malformed_traces_name_the_problem(tmp_path: Path, content: str, match: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(SourceError, match=match):
        load_trace(f)


def test_missing_file_and_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        load_trace(tmp_path / "x.json")
    with pytest.raises(SourceError, match="No .json traces"):
        trace_files(tmp_path)


def test_trace_source_exhausts_in_order(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"name": "t", "events": [{"time": str(i), "event": f"e{i}"} for i in range(3)]}))
    src = TraceSource(load_trace(f), batch=2)
    assert [o.text for o in src.fetch()] == ["e0", "e1"]
    assert not src.exhausted
    assert [o.text for o in src.fetch()] == ["e2"]
    assert src.exhausted and src.fetch() == []
