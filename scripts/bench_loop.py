#!/usr/bin/env python3
"""Benchmark the whole loop: replay traces through trigger + LLM + reward + store, per-event latency.

    .venv/bin/python scripts/bench_loop.py            # every bundled trace, table
    .venv/bin/python scripts/bench_loop.py --json     # one JSON object on stdout
    .venv/bin/python scripts/bench_loop.py --quick    # one trace, 6 events (< 1 minute)
    .venv/bin/python scripts/bench_loop.py --compare  # also the stock llama.cpp calls, same run
    .venv/bin/python scripts/bench_loop.py --real-only --compare --between   # README's figure (8 min)

Reports per-event latency p50/p95 (all events, and split by whether the LLM
ran), LLM calls, proposals, model load time and peak RSS of this process. One
model is loaded once and shared across traces, as in the hub. ``--no-trigger``
runs the LLM on every event (the old behaviour, for comparison).

The LLM's prompt-prefix cache and lazy grammar check (``llm.prefix_cache``,
``llm.lazy_grammar``) are on unless ``--no-prefix-cache`` / ``--no-lazy-grammar``.
``--compare`` loads a second model with both off and every core generating
(``llm.threads``; "before": the calls as they were) and replays every
trace through both, alternating which goes first so that a busy machine slows
both alike; it reports the before figures under ``before`` and how many LLM
events gave the same response both ways (``same_response``; and among the
events whose prompt was the same both ways, ``same_response_for_same_prompt``:
the memory's recency follows the wall clock, so a prompt may differ). A replay runs
only the phrase prompt, so llama.cpp's own reuse of the previous prompt's
tokens already skips the constant prefix; ``--between`` runs another prompt
after each LLM event (untimed), as the memory and the feedback do in a hub.
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
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.bench.replay import replay_each  # noqa: E402
from edge.config import Settings, load_settings  # noqa: E402
from edge.llm import LLM, Message, make_llm  # noqa: E402
from edge.memory.importance import POIGNANCY_SCHEMA, poignancy_messages  # noqa: E402
from edge.records import Decision  # noqa: E402
from edge.sources.trace import Trace, load_trace, trace_files  # noqa: E402

DEFAULT_TRACES = ROOT / "edge" / "data" / "proactivebench" / "traces"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Recorder:
    """An `LLM` that passes every call on and keeps the last prompt (which events had the same prompt)."""

    def __init__(self, llm: LLM) -> None:
        self.inner = llm
        self.name = llm.name
        self.last = ""

    def __getattr__(self, name: str) -> Any:  # count_tokens, stats, settings, prefix_states
        return getattr(self.inner, name)

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> str:
        self.last = json.dumps(messages)
        return self.inner.chat(messages, max_tokens)

    def chat_json(
        self, messages: Sequence[Message], schema: dict[str, Any], max_tokens: int | None = None
    ) -> dict[str, Any]:
        self.last = json.dumps(messages)
        return self.inner.chat_json(messages, schema, max_tokens)

    def close(self) -> None:
        self.inner.close()


class Run:
    """One LLM configuration's model and the decisions it gave, trace by trace (and the LLM's prompts)."""

    def __init__(self, settings: Settings) -> None:
        t0 = time.perf_counter()
        self.llm = Recorder(make_llm(settings.llm))
        self.load_s = time.perf_counter() - t0
        self.decisions: list[list[Decision]] = []
        self.prompts: list[str] = []  # of each event whose LLM ran, in order
        self.wall_s = 0.0

    def replay(
        self, trace: Trace, settings: Settings, use_gate: bool, max_events: int | None, between: bool
    ) -> None:
        def after_step(d: Decision) -> None:
            if d.llm_called:
                self.prompts.append(self.llm.last)  # the agent's call is the step's last one
            if between and d.llm_called:  # another prompt, as memory or feedback ask (untimed)
                stats = getattr(self.llm, "stats", Counter())
                before = Counter(stats)
                self.llm.chat_json(poignancy_messages(d.observation.text), POIGNANCY_SCHEMA, max_tokens=12)
                stats.clear()  # count the loop's own calls only
                stats.update(before)

        t0 = time.perf_counter()
        self.decisions += replay_each(
            [trace],
            settings,
            self.llm,
            use_gate=use_gate,
            max_events=max_events,
            on_decision=after_step,
        )
        self.wall_s += time.perf_counter() - t0

    def figures(self) -> dict[str, object]:
        lat_all = [d.latency_ms for ds in self.decisions for d in ds]
        lat_llm = [d.latency_ms for ds in self.decisions for d in ds if d.llm_called]
        lat_quiet = [d.latency_ms for ds in self.decisions for d in ds if not d.llm_called]
        llm_settings = getattr(self.llm, "settings", None)
        stats = getattr(self.llm, "stats", Counter())
        calls = max(stats["calls"], 1)
        states = getattr(self.llm, "prefix_states", None)
        return {
            "prefix_cache": bool(getattr(llm_settings, "prefix_cache", False)),
            "lazy_grammar": bool(getattr(llm_settings, "lazy_grammar", False)),
            "generation_threads": getattr(self.llm, "generation_threads", None),
            "events": len(lat_all),
            "llm_calls": len(lat_llm),
            "proposals": sum(d.proposed for ds in self.decisions for d in ds),
            "p50_latency_ms": pct(lat_all, 0.5),
            "p95_latency_ms": pct(lat_all, 0.95),
            "mean_latency_ms": statistics.fmean(lat_all) if lat_all else None,
            "p50_llm_event_ms": pct(lat_llm, 0.5),
            "p95_llm_event_ms": pct(lat_llm, 0.95),
            "p50_silent_event_ms": pct(lat_quiet, 0.5),
            "p95_silent_event_ms": pct(lat_quiet, 0.95),
            # the loop's LLM calls: prompt tokens as rendered, those llama.cpp evaluated, generated
            "prompt_tokens_per_call": round(stats["prompt_tokens"] / calls, 1),
            "evaluated_tokens_per_call": round(stats["evaluated_tokens"] / calls, 1),
            "generated_tokens_per_call": round(stats["generated_tokens"] / calls, 1),
            "prefix_states": len(states) if states is not None else 0,
            "prefix_state_bytes": states.nbytes if states is not None else 0,
            "prefix_hits": states.hits if states is not None else 0,
            "model_load_s": round(self.load_s, 3),
            "wall_s": round(self.wall_s, 1),
        }


def same_responses(a: Run, b: Run) -> dict[str, str]:
    """How many of ``a``'s LLM events gave ``b``'s response: all, and those whose prompt was the same.

    A prompt can differ between runs (the memory's recency follows the wall clock; a different
    earlier proposal changes what the memory and the repeat checks see); the same prompt must give
    the same response.
    """
    x = [d for ds in a.decisions for d in ds if d.llm_called]
    y = [d for ds in b.decisions for d in ds if d.llm_called]
    if len(x) != len(y):
        return {"same_response": f"LLM called for {len(x)} vs {len(y)} events"}
    same = [dx.response == dy.response for dx, dy in zip(x, y, strict=True)]
    same_prompt = [pa == pb for pa, pb in zip(a.prompts, b.prompts, strict=True)]
    kept = [s for s, p in zip(same, same_prompt, strict=True) if p]
    return {
        "same_response": f"{sum(same)}/{len(same)}",
        "same_prompt": f"{sum(same_prompt)}/{len(same_prompt)}",
        "same_response_for_same_prompt": f"{sum(kept)}/{len(kept)}",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=Path, default=DEFAULT_TRACES, help="folder of trace .json files")
    ap.add_argument("--real-only", action="store_true", help="skip simulated traces (sim_*)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quick", action="store_true", help="one trace, 6 events")
    ap.add_argument("--no-trigger", action="store_true", help="call the LLM on every event")
    ap.add_argument("--no-gate", action="store_true", help="no reward model ranking the tasks")
    ap.add_argument("--no-prefix-cache", action="store_true", help="llm.prefix_cache = false")
    ap.add_argument("--no-lazy-grammar", action="store_true", help="llm.lazy_grammar = false")
    ap.add_argument("--compare", action="store_true", help="also replay with both off, same run")
    ap.add_argument(
        "--between",
        action="store_true",
        help="after each LLM event run another prompt (the memory's importance rating), as a hub with "
        "memory and feedback does; not counted in the event's latency",
    )
    args = ap.parse_args()

    files = [f for f in trace_files(args.traces) if not (args.real_only and f.stem.startswith("sim_"))]
    max_events = None
    if args.quick:
        files, max_events = files[:1], 6
    settings = load_settings()
    settings.trigger.enabled = not args.no_trigger
    settings.llm.prefix_cache = settings.llm.prefix_cache and not args.no_prefix_cache
    settings.llm.lazy_grammar = settings.llm.lazy_grammar and not args.no_lazy_grammar
    run = Run(settings)
    before: Run | None = None
    if args.compare:
        stock = settings.model_copy(deep=True)
        stock.llm.prefix_cache = stock.llm.lazy_grammar = False
        stock.llm.threads = stock.llm.threads or os.cpu_count() or 2  # as before: every core generates
        before = Run(stock)

    wall0 = time.perf_counter()
    for i, f in enumerate(files):
        trace = load_trace(f)
        order = [run] if before is None else [run, before] if i % 2 else [before, run]
        for r in order:
            r.replay(trace, settings, not args.no_gate, max_events, args.between)
        if not args.json:
            print(f"  {f.name}: {len(run.decisions[-1])} events", file=sys.stderr)
    wall = time.perf_counter() - wall0

    result: dict[str, object] = {
        "benchmark": "loop",
        "traces": len(files),
        "trigger": not args.no_trigger,
        "gate": not args.no_gate,  # a hub with the gate on has one or failed to start
        "other_prompts_between": args.between,
        **run.figures(),
        "model": getattr(run.llm, "name", "?"),
    }
    if before is not None:
        result["before"] = before.figures()
        result.update(same_responses(before, run))
    run.llm.close()
    if before is not None:
        before.llm.close()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.update(
        {
            "wall_s": round(wall, 1),
            "peak_rss_mb": round(peak_rss_mb, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        }
    )
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
