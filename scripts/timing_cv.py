#!/usr/bin/env python3
"""Honest `eval timing`: leave one trace out of the reward gate's training, then replay it.

The shipped gate is trained on the reward rows, which are prefixes of the very
sessions the labelled traces record, so `proactive eval timing` on the shared
traces is in-sample. This script, for each labelled trace, fits the gate's
head on the rows of every OTHER session (thresholds chosen inside that
split, as in training), exports it, and replays the held-out trace through the
real loop (real LLM, real encoder) with that gate. Needs the `train` extra.

    .venv/bin/python scripts/timing_cv.py [--real-only] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.bench.agent_metrics import Confusion  # noqa: E402
from edge.bench.replay import replay_each  # noqa: E402
from edge.bench.timing import labelled, timing_metrics  # noqa: E402
from edge.config import load_settings  # noqa: E402
from edge.encoder import OnnxEmbedder  # noqa: E402
from edge.llm import make_llm  # noqa: E402
from edge.reward_train import Options, build_features, export_onnx, fit_final, load_rows  # noqa: E402
from edge.sources.trace import load_trace, trace_files  # noqa: E402

DATA = ROOT / "edge" / "data" / "proactivebench"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=Path, default=DATA / "traces")
    ap.add_argument("--data", type=Path, default=DATA / "reward_train.jsonl")
    ap.add_argument("--real-only", action="store_true", help="skip sim_ traces")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rows = load_rows(args.data)
    win, sc = build_features(rows, OnnxEmbedder())
    session_of = {(o[0]["event"], o[0]["time"]): g for o, g in zip(rows.obs, rows.groups, strict=True)}
    settings = load_settings()
    llm = make_llm(settings.llm)
    total = Confusion()
    per_trace, latencies = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for f in trace_files(args.traces):
            if args.real_only and f.stem.startswith("sim_"):
                continue
            trace = load_trace(f)
            if not labelled(trace):
                continue
            first = trace.observations[0]
            g = session_of.get((first.text, first.time))
            keep = rows.groups != g if g is not None else np.ones(len(rows), dtype=bool)
            sub = dataclasses.replace(
                rows,
                obs=[o for o, k in zip(rows.obs, keep, strict=True) if k],
                tasks=[t for t, k in zip(rows.tasks, keep, strict=True) if k],
                valid=rows.valid[keep],
                help_needed=None if rows.help_needed is None else rows.help_needed[keep],
                categories=None
                if rows.categories is None
                else [c for c, k in zip(rows.categories, keep, strict=True) if k],
                agreement=rows.agreement[keep],
                groups=rows.groups[keep],
            )
            params = fit_final(sub, win[keep], sc[keep], Options())
            head = Path(tmp) / f"{f.stem}.onnx"
            export_onnx(params, head, {"held_out": f.stem})
            settings.reward.model_path = head
            r = timing_metrics([trace], replay_each([trace], settings, llm))
            conf = Confusion(r["tp"], r["fp"], r["tn"], r["fn"])
            total.tp, total.fp, total.tn, total.fn = (
                total.tp + conf.tp,
                total.fp + conf.fp,
                total.tn + conf.tn,
                total.fn + conf.fn,
            )
            latencies.append(r["p50_latency_ms"])
            per_trace.append({"trace": f.stem, "held_out_session": g is not None, **conf.metrics()})
            if not args.json:
                m = conf.metrics()
                print(
                    f"{f.stem:<16} f1 {m['f1']:.2f} precision {m['precision']:.2f} recall {m['recall']:.2f}",
                    file=sys.stderr,
                )
    llm.close()
    result = {"benchmark": "timing_cv", **total.metrics(), "traces": len(per_trace), "per_trace": per_trace}
    if args.json:
        print(json.dumps(result))
    else:
        for k in ("precision", "recall", "f1", "accuracy", "false_alarm", "events"):
            print(f"{k:<12} {result[k]:.3f}" if isinstance(result[k], float) else f"{k:<12} {result[k]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
