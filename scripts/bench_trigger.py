"""Benchmark the when-to-speak trigger: time per event, size on disk, peak RSS.

    .venv/bin/python scripts/bench_trigger.py [--quick] [--json] [--model FILE]

Workload: every event of the bundled ProactiveBench traces (432 events in 22
traces), in order, through `edge.trigger.runtime.Trigger.assess` on one
desktop per trace, repeated (3 rounds, 1 with --quick). "Per event" is
everything the loop pays for timing: the structure of a text-only event
(parsing its sentence, as for an old companion's payload), the window
features and the model; "structured" is the same when the source already gave
the structure (ActivityWatch, a current companion). Target (issue 11): p50 <= 15 ms on 2
cores, at most 5 MB on disk.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from edge.sources.trace import load_trace, trace_files
from edge.trigger.model import default_model_path, load_trigger
from edge.trigger.runtime import Trigger

TRACES = Path(__file__).resolve().parents[1] / "edge" / "data" / "proactivebench" / "traces"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None, help="trigger model (default: the shipped one)")
    ap.add_argument("--quick", action="store_true", help="one round instead of three")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    path = args.model or default_model_path()
    t0 = time.perf_counter()
    model = load_trigger(path)
    load_ms = (time.perf_counter() - t0) * 1000
    traces = [load_trace(f) for f in trace_files(TRACES)]
    rounds = 1 if args.quick else 3

    def run(structured: bool) -> list[float]:
        times: list[float] = []
        for r in range(rounds):
            for t in traces:
                trig = Trigger(model)
                for o in t.observations:
                    obs = o if structured else replace(o, activity=None)
                    obs = replace(obs, desktop=f"{t.name}-{r}")
                    s = time.perf_counter()
                    trig.assess(obs)
                    times.append((time.perf_counter() - s) * 1000)
        return times

    run(True)  # warm up
    text = np.array(run(False))
    structured = np.array(run(True))
    result = {
        "events": int(len(text)),
        "per_event_ms": {
            "p50": round(float(np.percentile(text, 50)), 3),
            "p95": round(float(np.percentile(text, 95)), 3),
            "max": round(float(text.max()), 3),
        },
        "structured_ms": {
            "p50": round(float(np.percentile(structured, 50)), 3),
            "p95": round(float(np.percentile(structured, 95)), 3),
        },
        "load_ms": round(load_ms, 2),
        "model_bytes": path.stat().st_size,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": {"p50_ms": 15.0, "disk_mb": 5.0},
    }
    result["met"] = result["per_event_ms"]["p50"] <= 15.0 and result["model_bytes"] <= 5 * 1024 * 1024
    if args.json:
        print(json.dumps(result))
        return
    table = Table(title=f"trigger: {result['events']} events ({rounds} rounds of the bundled traces)")
    for col in ("what", "p50 ms", "p95 ms"):
        table.add_column(col)
    table.add_row(
        "per event (sentence parsed)", str(result["per_event_ms"]["p50"]), str(result["per_event_ms"]["p95"])
    )
    table.add_row(
        "per event (structure given)",
        str(result["structured_ms"]["p50"]),
        str(result["structured_ms"]["p95"]),
    )
    console = Console()
    console.print(table)
    console.print(
        f"model {path.name}: {result['model_bytes']} bytes, loads in {result['load_ms']} ms; "
        f"peak RSS {result['peak_rss_mb']} MB; targets met: {result['met']}"
    )


if __name__ == "__main__":
    main()
