"""`proactive eval timing`: does the loop propose exactly when the human said help was needed?

Each trace is replayed through the real loop (its own fresh store and window,
one shared model) and "proposed or not" is compared per event with the
trace's human ``help_needed`` label; unlabelled events still pass through the
loop (they are context) but are not scored, and traces without any label are
skipped entirely.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.bench.agent_metrics import Confusion, timing_outcome
from edge.bench.replay import OnDecision, replay_each
from edge.config import Settings
from edge.llm import LLM
from edge.sources.trace import Trace, load_trace


def labelled(trace: Trace) -> bool:
    return any(o.help_needed is not None for o in trace.observations)


def evaluate_timing(
    files: Sequence[Path],
    settings: Settings,
    llm: LLM,
    *,
    use_gate: bool = True,
    on_decision: OnDecision | None = None,
) -> dict[str, Any]:
    """Replay ``files`` and return the timing metrics plus a per-trace breakdown.

    Keys: precision, recall, f1, accuracy, false_alarm, events (labelled events
    scored), p50_latency_ms, traces, per_trace. Raises `SourceError` for a
    malformed trace before any model work starts.
    """
    traces = [t for t in (load_trace(f) for f in files) if labelled(t)]
    total = Confusion()
    latencies: list[float] = []
    per_trace: list[dict[str, Any]] = []
    replays = replay_each(traces, settings, llm, use_gate=use_gate, on_decision=on_decision)
    for trace, decisions in zip(traces, replays, strict=True):
        conf = Confusion()
        for d in decisions:
            latencies.append(d.latency_ms)
            outcome = timing_outcome(d.proposed, d.observation.help_needed)
            if outcome is not None:
                conf.add(outcome)
                total.add(outcome)
        per_trace.append({"trace": trace.name, **conf.metrics()})
    result: dict[str, Any] = dict(total.metrics())
    result["p50_latency_ms"] = statistics.median(latencies) if latencies else None
    result["traces"] = len(traces)
    result["per_trace"] = per_trace
    return result
