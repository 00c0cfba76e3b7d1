"""`edge.bench.trigger_eval` and `proactive eval timing --baselines/--loso/--feedback` (no LLM)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edge.bench.trigger_eval import (
    always,
    baseline_rows,
    feedback_replay,
    in_time_order,
    keyword,
    loso_models,
    model_lookup,
    score,
)
from edge.records import Observation
from edge.sources.trace import Trace
from edge.trigger.model import keyword_model
from edge.trigger.online import OnlineRule
from tests.conftest import SHARED_DATA


def trace(name: str, events: list[tuple[str, bool | None]], start: float) -> Trace:
    obs = [
        Observation(
            text=t, time=str(start + 10 * i), ts=start + 10 * i, source=name, key=str(i), help_needed=h
        )
        for i, (t, h) in enumerate(events)
    ]
    return Trace(name, obs)


SEARCH, READ = "The user searches Google for 'x'.", "The user reads 'y'."
A = trace("a", [(SEARCH, True), (READ, False), (READ, True), (SEARCH, False)], 2000.0)
B = trace("b", [(READ, None), (SEARCH, True)], 1000.0)


def test_baselines_are_scored_on_the_labelled_events_only() -> None:
    rows = baseline_rows([A, B], model_lookup({}, keyword_model()))
    assert (rows["always"]["tp"], rows["always"]["fp"], rows["always"]["events"]) == (3, 2, 5)
    assert (rows["never"]["tp"], rows["never"]["fn"], rows["never"]["proposals"]) == (0, 3, 0)
    assert rows["keyword"] == rows["trigger"]  # the keyword model fires exactly where the rule does
    assert (rows["keyword"]["tp"], rows["keyword"]["fp"], rows["keyword"]["fn"]) == (2, 1, 1)
    assert always([B]) == [[True, True]] and keyword([B]) == [[False, True]]
    assert score([A], [[False] * 4])["recall"] == 0.0


def test_feedback_answers_only_the_triggers_own_proposals_in_time_order() -> None:
    model_for = model_lookup({}, keyword_model())
    assert [t.name for t in in_time_order([A, B])] == ["b", "a"]
    big = OnlineRule(accepted_step=1.0, rejected_step=-1.0, ignored_step=0.0, bound=1.5, half_life_s=1e9)
    r = feedback_replay([A, B], model_for, big)
    # b: search (accepted, +1.0); a: search at +1.0 fires, accepted; the reads now clear 0.5 too
    assert r["order"] == ["b", "a"] and r["answers"]["accepted"] >= 2
    assert r["without"]["proposals"] == 3 and r["with"]["proposals"] > r["without"]["proposals"]
    still = feedback_replay([A, B], model_for, OnlineRule(0.0, 0.0, 0.0))
    assert still["with"] == still["without"] and still["gain_f1"] == 0.0


def test_loso_needs_fully_labelled_held_out_traces() -> None:
    with pytest.raises(ValueError, match="b"):
        loso_models([A, B], ["b"])


def test_eval_timing_baselines_loso_feedback_without_the_llm() -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "eval",
            "timing",
            "--traces",
            str(SHARED_DATA / "traces"),
            "--real-only",
            "--baselines",
            "--loso",
            "--feedback",
            "--no-loop",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rows = out["rows"]
    assert rows["always"]["f1"] == pytest.approx(0.510, abs=1e-3) and rows["always"]["events"] == 152
    assert rows["keyword"]["f1"] == pytest.approx(0.568, abs=1e-3)
    assert rows["trigger"]["f1"] == pytest.approx(0.627, abs=1e-3)
    assert rows["trigger"]["false_alarm"] == pytest.approx(0.360, abs=1e-3)
    assert out["trigger_model"] == "retrained without each trace" and "loop" not in rows
    fb = out["feedback"]
    assert fb["without"]["f1"] == pytest.approx(rows["trigger"]["f1"])
    assert len(fb["per_session"]) == 8 and fb["order"][0] == "code_13"
