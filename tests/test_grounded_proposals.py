"""The real loop on every shared trace: no proposal repeats a recent one, no task text loops.

Runs the embedded GGUF, the shipped trigger, reward model and MiniLM encoder
over all 22 ProactiveBench traces (about 150 LLM calls, 10-13 minutes on two
cores), and `proactive demo` as a user runs it.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.bench.replay import replay_each
from edge.config import Settings
from edge.encoder import OnnxEmbedder
from edge.grounding import loops
from edge.sources.trace import load_trace, trace_files
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.integration


def repeats(tasks: list[str], embedder: OnnxEmbedder) -> list[tuple[str, str]]:
    """Pairs of tasks that are the same text or have MiniLM cosine >= 0.8 (the loop's own rule)."""
    if len(tasks) < 2:
        return []
    vecs = embedder.embed(tasks)
    sims = vecs @ vecs.T
    return [
        (tasks[i], tasks[j])
        for i, j in itertools.combinations(range(len(tasks)), 2)
        if tasks[i].strip().lower() == tasks[j].strip().lower() or sims[i, j] >= 0.8
    ]


TRACES = trace_files(SHARED_DATA / "traces")


@pytest.fixture(scope="module")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


def test_all_22_shared_traces_are_checked() -> None:
    assert len(TRACES) == 22


@pytest.mark.parametrize("path", TRACES, ids=[p.stem for p in TRACES])
def test_no_repeated_or_looping_proposal(path: Path, real_llm: Any, embedder: OnnxEmbedder) -> None:
    trace = load_trace(path)
    settings = Settings(memory={"enabled": False})  # the memory changes prompts, not the guards
    (decisions,) = replay_each([trace], settings, real_llm)
    # A replay takes a minute, so every proposal of a trace is within the 30-minute repeat window.
    tasks = [d.task or "" for d in decisions if d.proposed]
    problems = [f"loops: {t}" for t in tasks if loops(t)]
    problems += [f"repeat: {a!r} ~ {b!r}" for a, b in repeats(tasks, embedder)]
    problems += [f"no anchor: {d.task}" for d in decisions if d.proposed and d.anchor is None]
    assert not problems, "\n".join(problems)


def test_the_demo_shows_p_help_anchors_and_no_repeats() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum("P(help)=" in line for line in lines) == 15  # one per event of code_11
    assert any("anchor: query 'How to capitalize person name in ruby?'" in line for line in lines)
    tasks = [line.split(":", 1)[1].split(" score=")[0].strip() for line in lines if ">> proposal" in line]
    assert tasks and len(set(t.lower() for t in tasks)) == len(tasks)
    assert not any(loops(t) for t in tasks)
