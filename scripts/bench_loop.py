#!/usr/bin/env python3
"""Benchmark the whole loop: replay traces through trigger + LLM + reward + store, per-event latency.

    .venv/bin/python scripts/bench_loop.py            # every bundled trace, table
    .venv/bin/python scripts/bench_loop.py --json     # one JSON object on stdout
    .venv/bin/python scripts/bench_loop.py --quick    # one trace, 6 events (< 1 minute)

Reports per-event latency p50/p95 (all events, and split by whether the LLM
ran), LLM calls, proposals, model load time and peak RSS of this process. One
model is loaded once and shared across traces, as in the hub. ``--no-trigger``
runs the LLM on every event (the old behaviour, for comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.bench.replay import replay_each  # noqa: E402
from edge.config import load_settings  # noqa: E402
from edge.llm import make_llm  # noqa: E402
from edge.sources.trace import load_trace, trace_files  # noqa: E402

DEFAULT_TRACES = ROOT / "edge" / "data" / "proactivebench" / "traces"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=Path, default=DEFAULT_TRACES, help="folder of trace .json files")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quick", action="store_true", help="one trace, 6 events")
    ap.add_argument("--no-trigger", action="store_true", help="call the LLM on every event")
    ap.add_argument("--no-gate", action="store_true", help="no reward model ranking the tasks")
    args = ap.parse_args()

    files = trace_files(args.traces)
    max_events = None
    if args.quick:
        files, max_events = files[:1], 6
    settings = load_settings()
    settings.trigger.enabled = not args.no_trigger
    t0 = time.perf_counter()
    llm = make_llm(settings.llm)
    load_s = time.perf_counter() - t0

    lat_all: list[float] = []
    lat_llm: list[float] = []
    lat_quiet: list[float] = []
    proposals = 0
    wall0 = time.perf_counter()
    traces = [load_trace(f) for f in files]
    replays = replay_each(traces, settings, llm, use_gate=not args.no_gate, max_events=max_events)
    for f, decisions in zip(files, replays, strict=True):
        for d in decisions:
            lat_all.append(d.latency_ms)
            (lat_llm if d.llm_called else lat_quiet).append(d.latency_ms)
            proposals += d.proposed
        if not args.json:
            print(f"  {f.name}: {len(decisions)} events", file=sys.stderr)
    wall = time.perf_counter() - wall0
    llm.close()

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "benchmark": "loop",
        "traces": len(files),
        "events": len(lat_all),
        "trigger": not args.no_trigger,
        "gate": not args.no_gate,  # a hub with the gate on has one or failed to start
        "llm_calls": len(lat_llm),
        "proposals": proposals,
        "p50_latency_ms": pct(lat_all, 0.5),
        "p95_latency_ms": pct(lat_all, 0.95),
        "mean_latency_ms": statistics.fmean(lat_all) if lat_all else None,
        "p50_llm_event_ms": pct(lat_llm, 0.5),
        "p95_llm_event_ms": pct(lat_llm, 0.95),
        "p50_silent_event_ms": pct(lat_quiet, 0.5),
        "p95_silent_event_ms": pct(lat_quiet, 0.95),
        "model": getattr(llm, "name", "?"),
        "model_load_s": round(load_s, 3),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for k, v in result.items():
            shown = f"{v:.1f}" if isinstance(v, float) else v
            print(f"{k:<{width}}  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
