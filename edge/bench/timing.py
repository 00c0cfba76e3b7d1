"""`proactive eval timing`: does the loop propose exactly when the human said help was needed?

Each trace is replayed through the real loop (its own fresh store and window,
one shared model) and "proposed or not" is compared per event with the
trace's human ``help_needed`` label; unlabelled events still pass through the
loop (they are context) but are not scored, and traces without any label are
skipped entirely.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.bench.agent_metrics import Confusion, timing_outcome
from edge.config import Settings
from edge.llm import LLM
from edge.records import Decision
from edge.sources.trace import Trace, load_trace


def labelled(trace: Trace) -> bool:
    return any(o.help_needed is not None for o in trace.observations)


def replay_traces(
    traces: Sequence[Trace],
    settings: Settings,
    llm: LLM,
    use_gate: bool = True,
    on_event: Callable[[str], None] | None = None,
) -> list[list[Decision]]:
    """Each trace through the real loop, with its own fresh store and window and one shared model."""
    from edge.hub import Hub

    out: list[list[Decision]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, trace in enumerate(traces):
            decisions = []
            with Hub(settings, db_path=Path(tmp) / f"{i}.db", llm=llm, use_gate=use_gate) as hub:
                for obs in trace.observations:
                    decisions.append(hub.loop.step(obs))
                    if on_event is not None:
                        on_event(trace.name)
            out.append(decisions)
    return out


def evaluate_timing(
    files: Sequence[Path],
    settings: Settings,
    llm: LLM,
    use_gate: bool = True,
    on_event: Callable[[str], None] | None = None,
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
    for trace, decisions in zip(
        traces, replay_traces(traces, settings, llm, use_gate, on_event), strict=True
    ):
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
