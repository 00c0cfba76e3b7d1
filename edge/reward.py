"""The reward gate: P(valid) of proposing ``task`` (or staying silent) after ``observations``.

`OnnxRewardModel` runs the shared MiniLM encoder (`edge.encoder`) and a
small ONNX head (``models/reward.onnx``, made by `edge.reward_train`):

- window vector: the embedding of the last ``join_events`` (3) events joined
  newest first (~75 tokens, so a new event costs one short encode), followed
  by the time features of `CONTEXT` (gaps between event timestamps);
- 11 scalars (`SCALARS`): null flag, window length, how the last event relates
  to the previous ones, and task-to-event cosine similarities over the last
  ``window_events`` (10) events;
- the head computes ``p_help`` (help needed) from the window vector, and
  ``p_valid`` = 1 - p_help for silence, or a logistic model of the scalars and
  p_help for a task.

Event texts, joined windows and tasks are embedded once and kept in an LRU
cache, so scoring a window re-encodes only what is new. Thresholds calibrated
by trace-grouped cross-validation are stored in the ONNX metadata:
``silence_threshold`` (silence scoring at least this means: stay silent, don't
call the LLM) and ``task_threshold`` (a task is proposed only if it scores at
least this).
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort

from edge.assets import models_dir
from edge.encoder import OnnxEmbedder
from edge.errors import ModelError
from edge.ports import Embedder

FEATURE_VERSION = 2
WINDOW_EVENTS = 10
JOIN_EVENTS = 3
DECAY = 0.7
SCALARS = (
    "null_task",
    "log_events",
    "cos_last_prev",
    "cos_last3_last",
    "cos_task_last",
    "cos_task_window3",
    "max_cos_task_event",
    "mean_cos_task_last3",
    "cos_task_decayed_mean",
    "mean_cos_task_event",
    "log_task_words",
)
# Appended to the joined-window vector (inputs of the help model).
CONTEXT = (
    "log_gap_last",
    "mean_log_gap_last5",
    "log_session_span",
    "log_gap_last_minus_mean",
    "has_gaps",
)
_DAY_TIME = re.compile(r"Day\s+(\d+),\s*(\d{1,2}):(\d{2})\s*([AP]M)", re.IGNORECASE)


@runtime_checkable
class RewardModel(Protocol):
    """Judges an action after an observation window (oldest first, ``{"time", "event"}``)."""

    silence_threshold: float
    task_threshold: float

    def score(self, observations: Sequence[Mapping[str, str]], task: str | None) -> float:
        """P(valid) of proposing ``task`` now, or of staying silent when ``task`` is None."""
        ...

    def score_many(
        self, observations: Sequence[Mapping[str, str]], tasks: Sequence[str | None]
    ) -> list[float]:
        """`score` for several candidate actions on the same window, in one batch."""
        ...


def default_model_path() -> Path:
    return models_dir() / "reward.onnx"


class EmbeddingCache:
    """An LRU cache of text -> unit vector in front of an `Embedder`."""

    def __init__(self, embedder: Embedder, max_items: int = 4096) -> None:
        self.embedder = embedder
        self.max_items = max_items
        self._d: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get_many(self, texts: Sequence[str]) -> list[np.ndarray]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._d))
        # One text per call: a joined window is ~10x longer than an event, and
        # padding them into one batch costs more than it saves; it also keeps
        # each cached vector independent of what it was embedded with.
        for t in missing:
            self._d[t] = self.embedder.embed([t])[0]
        out = []
        for t in texts:
            self._d.move_to_end(t)
            out.append(self._d[t])
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        while len(self._d) > self.max_items:
            self._d.popitem(last=False)
        return out

    def clear(self) -> None:
        self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


def _events(observations: Sequence[Mapping[str, str]], k: int) -> list[str]:
    """The last ``k`` event texts, newest first."""
    texts = [str(o.get("event", "")) for o in observations][::-1][:k]
    if not texts:
        raise ValueError("an observation window needs at least one event")
    return texts


def parse_time(text: str) -> float | None:
    """Seconds from an event's ``time``: unix seconds (``"1717377997.0"``) or ``"Day 1, 11:00 PM"``."""
    try:
        t = float(text)
    except ValueError:
        pass
    else:
        return t if math.isfinite(t) else None
    m = _DAY_TIME.match(text.strip())
    if not m:
        return None
    hour = int(m[2]) % 12 + (12 if m[4].upper() == "PM" else 0)
    return float(((int(m[1]) - 1) * 24 + hour) * 3600 + int(m[3]) * 60)


def time_features(observations: Sequence[Mapping[str, str]]) -> list[float]:
    """`CONTEXT`: log gaps between consecutive parseable timestamps (negative gaps count as 0)."""
    ts = [t for t in (parse_time(str(o.get("time", ""))) for o in observations) if t is not None]
    gaps = np.maximum(np.diff(np.asarray(ts)), 0.0) if len(ts) > 1 else np.zeros(1)
    lg = np.log1p(gaps)
    span = math.log1p(max(ts[-1] - ts[0], 0.0)) if ts else 0.0
    return [float(lg[-1]), float(lg[-5:].mean()), span, float(lg[-1] - lg.mean()), float(len(ts) > 1)]


def featurize(
    cache: EmbeddingCache,
    observations: Sequence[Mapping[str, str]],
    tasks: Sequence[str | None],
    window_events: int = WINDOW_EVENTS,
    join_events: int = JOIN_EVENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """(window vectors (n, dim + len(CONTEXT)), scalars (n, len(SCALARS))) for ``tasks`` on one window.

    Shared by training and inference so both see exactly the same features.
    Encodes (or takes from the cache) each of the last ``window_events``
    events, the last ``join_events`` events joined newest first, and the tasks.
    """
    ev = _events(observations, window_events)
    join = " ".join(ev[:join_events])
    real_tasks = [t for t in tasks if t]
    vecs = cache.get_many([*ev, join, *real_tasks])
    evs = np.stack(vecs[: len(ev)])
    window3 = vecs[len(ev)]
    task_vec = dict(zip(real_tasks, vecs[len(ev) + 1 :], strict=True))
    window = np.concatenate([window3, np.asarray(time_features(observations), dtype=window3.dtype)])
    last = evs[0]
    prev = evs[1] if len(evs) > 1 else last
    w = DECAY ** np.arange(len(evs))
    decayed = (w[:, None] * evs).sum(0)
    decayed /= max(float(np.linalg.norm(decayed)), 1e-12)
    base = [math.log1p(len(observations)), float(last @ prev), float(evs[:3].mean(0) @ last)]
    rows = []
    for t in tasks:
        if not t:
            rows.append([1.0, *base] + [0.0] * 7)
            continue
        tv = task_vec[t]
        s = evs @ tv
        rows.append(
            [
                0.0,
                *base,
                float(tv @ last),
                float(tv @ window3),
                float(s.max()),
                float(s[:3].mean()),
                float(tv @ decayed),
                float(s.mean()),
                math.log1p(len(t.split())),
            ]
        )
    n = len(tasks)
    return np.repeat(window[None, :], n, axis=0).astype(np.float32), np.asarray(rows, dtype=np.float32)


class OnnxRewardModel:
    """The shipped reward classifier: shared MiniLM encoder + ONNX head on onnxruntime.

    Raises `ModelError` when the head file is missing or unreadable or was made
    for other features. ``embedder`` defaults to the shipped `OnnxEmbedder`;
    pass the memory's embedder to share one encoder (and its weights) in process.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        embedder: Embedder | None = None,
        *,
        threads: int = 2,
        cache_size: int = 4096,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        if not self.model_path.is_file():
            raise ModelError(
                f"Reward model {self.model_path} does not exist.",
                "Train one with `proactive reward train --data ROWS.jsonl --out MODEL.onnx`.",
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._sess = ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelError(
                f"Cannot load reward model {self.model_path}: {e}", "Retrain or reinstall the model."
            ) from e
        meta: dict[str, str] = self._sess.get_modelmeta().custom_metadata_map
        try:
            version = int(meta["feature_version"])
            self.silence_threshold = float(meta["silence_threshold"])
            self.task_threshold = float(meta["task_threshold"])
            self.window_events = int(meta.get("window_events", WINDOW_EVENTS))
            self.join_events = int(meta.get("join_events", JOIN_EVENTS))
            self.metadata: dict[str, Any] = {k: _maybe_json(v) for k, v in meta.items()}
        except (KeyError, ValueError) as e:
            raise ModelError(
                f"Reward model {self.model_path} lacks its metadata ({e}).",
                "Retrain it with `proactive reward train`.",
            ) from e
        if version != FEATURE_VERSION:
            raise ModelError(
                f"Reward model {self.model_path} was made for features v{version}, this code has "
                f"v{FEATURE_VERSION}.",
                "Retrain it with `proactive reward train`.",
            )
        if embedder is None:
            embedder = OnnxEmbedder(threads=threads)
        self.cache = EmbeddingCache(embedder, cache_size)

    def score(self, observations: Sequence[Mapping[str, str]], task: str | None) -> float:
        return self.score_many(observations, [task])[0]

    def score_many(
        self, observations: Sequence[Mapping[str, str]], tasks: Sequence[str | None]
    ) -> list[float]:
        if not tasks:
            return []
        window, scalars = featurize(self.cache, observations, tasks, self.window_events, self.join_events)
        return [float(p) for p in self.predict(window, scalars)]

    def predict(self, window: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """Run the head on precomputed features (see `featurize`)."""
        out = self._sess.run(["p_valid"], {"window": window, "scalars": scalars})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)


def _maybe_json(v: str) -> Any:
    try:
        return json.loads(v)
    except ValueError:
        return v
