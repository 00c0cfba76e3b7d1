"""`proactive eval timing`: does the loop propose exactly when the human said help was needed?

Each trace is replayed through the real loop (`edge.bench.replay.replay_each`:
its own fresh store and window, one shared model) and "proposed or not" is
compared per event with the trace's human ``help_needed`` label; unlabelled
events still pass through the loop (they are context) but are not scored, and
traces without any label are skipped entirely (`labelled_traces`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from edge.bench.agent_metrics import Confusion, timing_outcome
from edge.records import Decision
from edge.sources.trace import Trace, load_trace


def labelled(trace: Trace) -> bool:
    return any(o.help_needed is not None for o in trace.observations)


def labelled_traces(files: Iterable[Path]) -> list[Trace]:
    """The traces of ``files`` that carry at least one label; raises `SourceError` for a malformed
    one (before any model work starts)."""
    return [t for t in map(load_trace, files) if labelled(t)]


def timing_metrics(traces: Sequence[Trace], decided: Iterable[Sequence[Decision]]) -> dict[str, Any]:
    """The timing metrics of each trace's decisions (in order) plus a per-trace breakdown.

    Keys: precision, recall, f1, accuracy, false_alarm, events (labelled events
    scored), p50_latency_ms, traces, per_trace.
    """
    total = Confusion()
    latencies: list[float] = []
    per_trace: list[dict[str, Any]] = []
    for trace, decisions in zip(traces, decided, strict=True):
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
