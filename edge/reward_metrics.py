"""ProactiveBench reward-model metrics, computed as the benchmark does (used by
`edge.reward_train` and ``proactive eval reward``), and the row categories.

For every row the model predicts whether the judged action (a proposed task, or
silence when the task is null) is ``valid``. Reported:

- ``MN``, ``CR``, ``CD``, ``FA``: agreement per category (Missed-Need,
  Correct-Rejection, Correct-Detection, False-Alarm), the share of that
  category's rows where ``prediction == valid``; None when a category has no rows;
- ``accuracy``, ``precision``, ``recall``, ``f1`` of ``valid`` (positive class:
  valid is True);
- ``rows``: how many rows were scored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

CATEGORIES = ("MN", "CR", "CD", "FA")
NAMES = {"MN": "Missed-Need", "CR": "Correct-Rejection", "CD": "Correct-Detection", "FA": "False-Alarm"}


def category(pred_task: str | None, valid: bool) -> str:
    """The ProactiveBench category of a judged row, e.g. ``"Missed-Need (MN)"``: silence
    (``pred_task`` None) that was wrong."""
    silent = pred_task is None
    code = ("CR" if valid else "MN") if silent else ("CD" if valid else "FA")
    return f"{NAMES[code]} ({code})"


def category_code(category: str) -> str:
    """``"Missed-Need (MN)"`` or ``"MN"`` -> ``"MN"``; ValueError for anything else."""
    m = re.search(r"\b(MN|CR|CD|FA)\b", category)
    if not m:
        raise ValueError(f"unknown category {category!r}")
    return m.group(1)


def reward_metrics(
    valid: Sequence[bool], predicted: Sequence[bool], categories: Sequence[str]
) -> dict[str, Any]:
    """The published reward metrics for ``predicted`` against the labels ``valid``."""
    if not (len(valid) == len(predicted) == len(categories)):
        raise ValueError("valid, predicted and categories must have the same length")
    codes = [category_code(c) for c in categories]
    tp = sum(1 for v, p in zip(valid, predicted, strict=True) if v and p)
    fp = sum(1 for v, p in zip(valid, predicted, strict=True) if not v and p)
    fn = sum(1 for v, p in zip(valid, predicted, strict=True) if v and not p)
    n = len(valid)
    correct = sum(1 for v, p in zip(valid, predicted, strict=True) if bool(v) == bool(p))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out: dict[str, Any] = {}
    for c in CATEGORIES:
        idx = [i for i, code in enumerate(codes) if code == c]
        out[c] = sum(1 for i in idx if bool(predicted[i]) == bool(valid[i])) / len(idx) if idx else None
    out.update(
        {
            "accuracy": correct / n if n else 0.0,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "rows": n,
        }
    )
    return out
