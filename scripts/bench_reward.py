"""Benchmark the reward gate: latency per score and per batch of 8, size on disk, peak RSS.

    .venv/bin/python scripts/bench_reward.py [--quick] [--json] [--model FILE] [--data ROWS.jsonl]

Workload: windows of (up to) 10 events taken from the reward rows, scored
- cold: a fresh embedding cache, so every event, the joined window and the task
  are encoded (the first decision after start-up);
- warm: older events already cached (the memory embeds each event on arrival),
  the newest event, the joined window and the task are new (a new event arrives);
- same window: silence already scored on this window, now one more candidate task;
- batch of 8: `score_many` with silence + 7 tasks on a new window (warm events).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from edge.assets import models_dir
from edge.reward import OnnxRewardModel
from edge.reward_train import load_rows


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).parent.parent / "edge/data/proactivebench/reward_train.jsonl",
    )
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="30 windows instead of 150")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    rows = load_rows(args.data)
    n = 30 if args.quick else 150
    tasks = [t for t in rows.tasks if t]
    rng = np.random.default_rng(0)
    picks = rng.choice(len(rows), size=n, replace=False)
    windows = [rows.obs[i][-10:] for i in picks]

    t0 = time.perf_counter()
    model = OnnxRewardModel(args.model, threads=args.threads)
    load_ms = (time.perf_counter() - t0) * 1000
    model.score(windows[0], None)  # warm up onnxruntime

    def timed(fn: Callable[..., object], *a: object) -> float:
        s = time.perf_counter()
        fn(*a)
        return (time.perf_counter() - s) * 1000

    cold, warm, same, batch = [], [], [], []
    for w in windows:
        task = tasks[int(rng.integers(len(tasks)))]
        model.cache.clear()
        cold.append(timed(model.score, w, task))
        model.cache.clear()
        model.cache.get_many([o["event"] for o in w[:-1]])  # older events embedded on arrival
        warm.append(timed(model.score, w, None))
        task2 = tasks[int(rng.integers(len(tasks)))]
        same.append(timed(model.score, w, task2))
        model.cache.clear()
        model.cache.get_many([o["event"] for o in w[:-1]])
        cands: list[str | None] = [None, *(tasks[int(j)] for j in rng.integers(len(tasks), size=7))]
        batch.append(timed(model.score_many, w, cands))

    head = (args.model or models_dir() / "reward.onnx").stat().st_size
    enc = (models_dir() / "minilm" / "model.onnx").stat().st_size + (
        models_dir() / "minilm" / "tokenizer.json"
    ).stat().st_size
    out = {
        "windows": n,
        "threads": args.threads,
        "load_ms": round(load_ms, 1),
        "score_cold_cache_ms": {"p50": round(pct(cold, 50), 1), "p95": round(pct(cold, 95), 1)},
        "score_new_event_warm_cache_ms": {"p50": round(pct(warm, 50), 1), "p95": round(pct(warm, 95), 1)},
        "score_same_window_new_task_ms": {"p50": round(pct(same, 50), 1), "p95": round(pct(same, 95), 1)},
        "batch8_new_event_warm_cache_ms": {"p50": round(pct(batch, 50), 1), "p95": round(pct(batch, 95), 1)},
        "mean_events_per_window": round(statistics.mean(len(w) for w in windows), 1),
        "head_bytes": head,
        "encoder_bytes": enc,
        "total_mb": round((head + enc) / 1e6, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(out))
        return
    t = Table(title=f"reward gate, {n} windows, {args.threads} threads")
    t.add_column("case")
    t.add_column("p50 ms", justify="right")
    t.add_column("p95 ms", justify="right")
    for k in (
        "score_cold_cache_ms",
        "score_new_event_warm_cache_ms",
        "score_same_window_new_task_ms",
        "batch8_new_event_warm_cache_ms",
    ):
        t.add_row(k.removesuffix("_ms"), str(out[k]["p50"]), str(out[k]["p95"]))  # type: ignore[index]
    Console().print(t)
    print(
        f"size: head {head} B + encoder {enc / 1e6:.1f} MB = {out['total_mb']} MB; "
        f"peak RSS {out['peak_rss_mb']} MB; load {out['load_ms']} ms"
    )


if __name__ == "__main__":
    main()
