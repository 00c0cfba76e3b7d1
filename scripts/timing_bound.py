#!/usr/bin/env python3
"""How well can the reward gate's help model time proposals at all? An optimistic bound.

`eval timing` asks: at each event, did the loop propose exactly when the human
said help was needed? The loop can only propose where the gate's help model
says help looks likely, so the help model's out-of-fold P(help) on the
distinct observation windows of the reward rows (one per session prefix, each
labelled with ``help_needed`` of its last event) bounds what any threshold can
reach. This script reports, leave-one-trace-out:

- the AUC of out-of-fold P(help);
- the best F1 over every threshold, choosing the threshold ON THE TEST SCORES
  (optimistic: no deployable threshold does better), and its false alarm;
- the best F1 among thresholds with false alarm <= ``--max-false-alarm``
  (null when no threshold gets there);
- proposing at every event, for scale.

Needs the ``train`` extra (scikit-learn).

    .venv/bin/python scripts/timing_bound.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.encoder import OnnxEmbedder  # noqa: E402
from edge.reward_train import Options, _help_oof, build_features, load_rows  # noqa: E402

DATA = ROOT / "edge" / "data" / "proactivebench" / "reward_train.jsonl"


def sweep(p: np.ndarray, y: np.ndarray, max_fa: float) -> dict[str, Any]:
    """Best F1 over all thresholds on ``p``, overall and with false alarm <= ``max_fa``."""
    best: dict[str, Any] = {"f1": 0.0}
    capped: dict[str, Any] | None = None
    for c in np.unique(p):
        pred = p >= c
        tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        fa = fp / (tp + fp) if tp + fp else 0.0
        point = {"f1": f1, "false_alarm": fa, "precision": 1 - fa, "recall": tp / (tp + fn), "threshold": c}
        if f1 > best["f1"]:
            best = point
        if fa <= max_fa and tp and (capped is None or f1 > capped["f1"]):
            capped = point
    return {"best": best, "best_within_false_alarm": capped}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--max-false-alarm", type=float, default=0.30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - the optional train extra

    rows = load_rows(args.data)
    assert rows.help_needed is not None
    opt = Options()
    win, _ = build_features(rows, OnnxEmbedder(), opt=opt)
    first: dict[tuple[str, str, str, int], int] = {}
    for i, o in enumerate(rows.obs):  # one row per distinct window (a session prefix)
        first.setdefault((o[0]["time"], o[-1]["time"], o[-1]["event"], len(o)), i)
    idx = np.array(sorted(first.values()))
    x, y, g = win[idx], rows.help_needed[idx].astype(bool), rows.groups[idx]
    oof = _help_oof(x, y, g, np.ones(len(idx), dtype=bool), opt)  # the training code's leave-one-trace-out
    result: dict[str, Any] = {
        "benchmark": "timing_bound",
        "windows": int(len(idx)),
        "traces": int(len(np.unique(g))),
        "help_rate": float(y.mean()),
        "auc_help": float(roc_auc_score(y, oof)),
        "max_false_alarm": args.max_false_alarm,
        **sweep(oof, y, args.max_false_alarm),
        "propose_always": {"f1": float(2 * y.mean() / (1 + y.mean())), "false_alarm": float(1 - y.mean())},
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"windows {result['windows']} in {result['traces']} traces, help needed at {result['help_rate']:.2f}"
    )
    print(f"AUC of out-of-fold P(help)           {result['auc_help']:.3f}")
    b = result["best"]
    print(f"best F1, threshold chosen on test    {b['f1']:.3f} (false alarm {b['false_alarm']:.3f})")
    c = result["best_within_false_alarm"]
    print(
        f"best F1 with false alarm <= {args.max_false_alarm:.2f}     "
        + (f"{c['f1']:.3f} (recall {c['recall']:.3f})" if c else "none: no threshold gets there")
    )
    a = result["propose_always"]
    print(f"propose at every event               {a['f1']:.3f} (false alarm {a['false_alarm']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
