from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.bench.replay import replay_each
from edge.bench.timing import labelled_traces, timing_metrics
from edge.config import Settings
from edge.llm import LLM
from tests.doubles import QueuedLLM, response


def evaluate_timing(files: list[Path], settings: Settings, llm: LLM, use_gate: bool) -> dict[str, Any]:
    """What `proactive eval timing` does: keep the labelled traces, replay them, score the decisions."""
    traces = labelled_traces(files)
    return timing_metrics(traces, replay_each(traces, settings, llm, use_gate=use_gate))


def llm_every_event() -> Settings:
    """The LLM decides at every event (no trigger), so each event takes one queued reply."""
    s = Settings()
    s.trigger.enabled = False
    return s


def write(tmp_path: Path, name: str, labels: list[bool | None]) -> Path:
    events = [
        {"time": str(i), "event": f"The user does step {i}.", "help_needed": h} for i, h in enumerate(labels)
    ]
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps({"name": name, "events": events}))
    return f


def test_timing_against_labels_with_a_queued_llm(tmp_path: Path) -> None:
    a = write(tmp_path, "a", [True, False, None, True])
    b = write(tmp_path, "b", [None, None])  # no labels: skipped, never replayed
    # proposals at events 0 and 1, silence at 2 and 3 -> TP, FP, (skip), FN
    llm = QueuedLLM([response("Explain x"), response("Explain y"), response(None), response(None)])
    r = evaluate_timing([a, b], llm_every_event(), llm, use_gate=False)
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (1, 1, 0, 1)
    assert r["events"] == 3 and r["traces"] == 1
    assert r["precision"] == 0.5 and r["recall"] == 0.5 and r["false_alarm"] == 0.5
    assert r["per_trace"][0]["trace"] == "a"
    assert not llm.replies  # every event of the labelled trace went through the loop


def test_windows_do_not_leak_between_traces(tmp_path: Path) -> None:
    a = write(tmp_path, "a", [True])
    b = write(tmp_path, "b", [False])
    llm = QueuedLLM([response(None), response(None)])
    evaluate_timing([a, b], llm_every_event(), llm, use_gate=False)
    assert "step 0" in llm.calls[1][-1]["content"]
    assert llm.calls[1][-1]["content"].count("The user does step") == 2  # window + "Latest event"
