"""Training the trigger, honestly: labelled sessions, a numpy logistic regression, nested selection.

The procedure (design #30 of the model card, ``models/trigger.md``):

1. Candidate configurations: feature set {compact, current, no_time, all} x
   weight of simulated sessions {0, 0.3, 1} x regularisation C {0.3, 1}; in
   every one a feature that is non-zero on fewer than 5 training events gets
   weight 0, and the two classes weigh the same.
2. Each configuration is scored by leave-one-session-out *inside the training
   sessions*: the pooled out-of-fold logits of the real sessions give its AUC.
3. The best AUC wins; the decision threshold is the cut with the best F1 among
   cuts whose false alarm is at most 0.40 on those same out-of-fold logits;
   Platt scaling on them calibrates P(help).
4. The winner is refitted on all training sessions.

`loso` runs that whole procedure once per held-out session, so its scores
never saw the session they score (``proactive eval timing --loso``). Sessions
are the labelled traces plus any reward-row session that is not one of them
(the rows' windows are prefixes of sessions; on the shipped data all 12 are
traces). numpy only: no scikit-learn at run time; deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import SourceError
from edge.sources.sentences import parse
from edge.sources.trace import Trace, session_seconds
from edge.trigger.features import FEATURES, INDEX, WINDOW, TriggerEvent, window_features
from edge.trigger.model import TriggerModel

VERSION = "trigger-1.0"
MIN_SUPPORT = 5
MAX_FALSE_ALARM = 0.40
COMPACT = ("kw", "search", "prev_kw", "since_kw", "n_kw", "chat", "low_info", "results", "open_result")
CURRENT = FEATURES[: FEATURES.index("n_search")]
NO_TIME = tuple(f for f in FEATURES if f not in ("log_gap", "log_since_search_s", "position", "first"))
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "compact": COMPACT,
    "current": CURRENT,
    "no_time": NO_TIME,
    "all": FEATURES,
}


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class Session:
    """One labelled session: its events as the trigger sees them, per-event labels, real or simulated."""

    name: str
    events: tuple[TriggerEvent, ...]
    labels: tuple[bool | None, ...]

    @property
    def real(self) -> bool:
        return not self.name.startswith("sim_")

    @property
    def labelled(self) -> bool:
        return bool(self.labels) and all(v is not None for v in self.labels)

    def matrix(self) -> np.ndarray:
        """Feature rows of every event, in order (shape (n, len(FEATURES)))."""
        ev = self.events
        rows = [window_features(ev[max(0, i - WINDOW + 1) : i + 1], i) for i in range(len(ev))]
        return np.vstack(rows) if rows else np.zeros((0, len(FEATURES)))


def session_of(trace: Trace) -> Session:
    """The trigger's view of a parsed trace (times in seconds, simulated clocks included)."""
    secs = session_seconds([o.time for o in trace.observations])
    events = tuple(TriggerEvent.of_observation(o, t) for o, t in zip(trace.observations, secs, strict=True))
    return Session(trace.name, events, tuple(o.help_needed for o in trace.observations))


def same_events(a: Session, b: Session) -> bool:
    """True when one session's events are a prefix of the other's (the same recorded session)."""
    n = min(len(a.events), len(b.events))
    return n > 0 and [e.text for e in a.events[:n]] == [e.text for e in b.events[:n]]


def reward_sessions(rows_path: Path) -> list[Session]:
    """The reward rows' distinct windows grouped into sessions (a label at each prefix's end).

    Rows are ``{"obs": [{"time", "event"}...], "help_needed": bool, ...}``.
    Raises `SourceError` for an unreadable file or windows that contradict each other.
    """
    windows: dict[tuple[tuple[str, str], ...], bool] = {}
    try:
        lines = rows_path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            key = tuple((str(o["time"]), str(o["event"])) for o in row["obs"])
            if key and windows.setdefault(key, bool(row["help_needed"])) != bool(row["help_needed"]):
                raise SourceError(f"{rows_path}: one window has two help_needed labels.", "Fix the rows.")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise SourceError(f"Cannot read reward rows {rows_path}: {e}", "Pass a reward_train.jsonl.") from e
    groups: dict[tuple[str, str], list[tuple[tuple[str, str], ...]]] = {}
    for key in windows:
        groups.setdefault(key[0], []).append(key)
    out = []
    for i, keys in enumerate(sorted(groups.values(), key=lambda ks: ks[0][0])):
        full = max(keys, key=len)
        labels: list[bool | None] = [None] * len(full)
        for k in keys:
            if k == full[: len(k)]:
                labels[len(k) - 1] = windows[k]
        secs = session_seconds([t for t, _ in full])
        events = tuple(TriggerEvent(e, s, parse(e)) for (_, e), s in zip(full, secs, strict=True))
        out.append(Session(f"reward_{i}", events, tuple(labels)))
    return out


def training_sessions(traces: Iterable[Trace], rows_path: Path | None = None) -> list[Session]:
    """Every fully labelled trace, plus the reward-row sessions that are not one of those traces."""
    sessions = [s for s in map(session_of, traces) if s.labelled]
    if rows_path is not None:
        extra = [
            s
            for s in reward_sessions(rows_path)
            if s.labelled and not any(same_events(s, t) for t in sessions)
        ]
        sessions += [replace(s, name=f"sim_{s.name}") if not _real_times(s) else s for s in extra]
    return sessions


def _real_times(s: Session) -> bool:
    """Real sessions carry unix timestamps; simulated ones "Day N" clocks (small numbers)."""
    return any(e.ts is not None and e.ts > 1e8 for e in s.events)


# ------------------------------------------------------------------ the model


def fit_logistic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, min_support: int = MIN_SUPPORT
) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularised logistic regression on standardised inputs (Newton's method).

    Minimises ``C * sum(w_i * logloss_i) + ||coef||^2 / 2`` (intercept free),
    as scikit-learn's ``LogisticRegression(C)`` does. Columns non-zero on
    fewer than ``min_support`` rows get weight 0. Returns ``(weights, bias)``
    in raw feature units.
    """
    mask = (x != 0).sum(0) >= min_support
    xm = x * mask
    mu = xm.mean(0)
    sd = xm.std(0)
    sd[sd < 1e-9] = 1.0
    z = (xm - mu) / sd
    w = w.astype(np.float64).copy()
    for v in (False, True):
        m = y == v
        if m.any():
            w[m] *= w.sum() / (2 * w[m].sum())
    a = np.hstack([z, np.ones((len(z), 1))])
    theta = np.zeros(a.shape[1])
    reg = np.ones(a.shape[1])
    reg[-1] = 0.0
    yf = y.astype(np.float64)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ theta, -60, 60)))
        grad = c * (a.T @ (w * (p - yf))) + reg * theta
        hess = c * (a.T * (w * p * (1 - p))) @ a + np.diag(reg) + 1e-12 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    coef, b = theta[:-1], float(theta[-1])
    return coef * mask / sd, b - float(np.sum(coef * mu / sd))


def platt(logit: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` so that sigmoid(a * logit + b) is calibrated on (logit, y) (lightly regularised)."""
    wts, bias = fit_logistic(logit.reshape(-1, 1), y, _unbalanced(y), c=10.0, min_support=0)
    return float(wts[0]), bias


def _unbalanced(y: np.ndarray) -> np.ndarray:
    # fit_logistic balances the classes; undo it so that the calibration keeps the base rate.
    pos = float(y.mean()) if len(y) else 0.5
    return np.where(y, 2 * pos, 2 * (1 - pos)) if 0 < pos < 1 else np.ones(len(y))


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC, ties counted half (0.5 when one class is missing)."""
    pos, neg = score[y], score[~y]
    if len(pos) == 0 or len(neg) == 0:
        return 0.5
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / (len(pos) * len(neg)))


def _f1_fa(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return f1, fp / (tp + fp) if tp + fp else 0.0, tp


def best_threshold(score: np.ndarray, y: np.ndarray, max_fa: float | None = MAX_FALSE_ALARM) -> float:
    """The cut with the best F1 among cuts whose false alarm is at most ``max_fa`` (ties: the higher cut).

    Falls back to the unconstrained best F1 when no cut meets ``max_fa``.
    """
    u = np.unique(score)
    cuts = np.concatenate([[u[0] - 1e-9], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-9]])
    best, best_c, best_fa, best_fa_c = -1.0, float(cuts[0]), -1.0, None
    for c in cuts:
        f1, fa, tp = _f1_fa(score >= c, y)
        if f1 >= best:
            best, best_c = f1, float(c)
        if max_fa is not None and tp and fa <= max_fa and f1 >= best_fa:
            best_fa, best_fa_c = f1, float(c)
    return best_fa_c if max_fa is not None and best_fa_c is not None else best_c


# ------------------------------------------------------------------ selection


@dataclass(frozen=True)
class Config:
    """One candidate: which features, how much the simulated sessions weigh, how strong the prior."""

    features: str
    sim_weight: float
    c: float

    @property
    def name(self) -> str:
        return f"{self.features}/sim{self.sim_weight}/C{self.c}"

    @property
    def columns(self) -> list[int]:
        return [INDEX[f] for f in FEATURE_SETS[self.features]]


GRID = tuple(
    Config(f, sw, c)
    for f in ("compact", "current", "no_time", "all")
    for sw in (0.0, 0.3, 1.0)
    for c in (0.3, 1.0)
)


@dataclass(frozen=True)
class Prepared:
    """A session's feature matrix and labels, computed once."""

    name: str
    x: np.ndarray
    y: np.ndarray
    real: bool
    session: Session


def prepare(sessions: Sequence[Session]) -> list[Prepared]:
    return [Prepared(s.name, s.matrix(), np.array([bool(v) for v in s.labels]), s.real, s) for s in sessions]


def _fit(cfg: Config, train: Sequence[Prepared]) -> tuple[np.ndarray, float]:
    cols = cfg.columns
    x = np.vstack([p.x[:, cols] for p in train])
    y = np.concatenate([p.y for p in train])
    w = np.concatenate([np.full(len(p.y), 1.0 if p.real else cfg.sim_weight) for p in train])
    keep = w > 0
    coef, b = fit_logistic(x[keep], y[keep], w[keep], cfg.c)
    weights = np.zeros(len(FEATURES))
    weights[cols] = coef
    return weights, b


def _inner_oof(cfg: Config, train: Sequence[Prepared]) -> tuple[np.ndarray, np.ndarray]:
    usable = [p for p in train if p.real or cfg.sim_weight > 0]
    scores, ys = [], []
    for p in usable:
        if not p.real:
            continue
        w, b = _fit(cfg, [q for q in usable if q is not p])
        scores.append(p.x @ w + b)
        ys.append(p.y)
    if not scores:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate(scores), np.concatenate(ys)


@dataclass(frozen=True)
class Selection:
    """What the procedure chose on one set of training sessions."""

    config: Config
    threshold: float
    calibration: tuple[float, float]
    inner_auc: dict[str, float]


def select(train: Sequence[Prepared], grid: Sequence[Config] = GRID) -> Selection:
    """The configuration with the best inner leave-one-session-out AUC, its threshold and calibration."""
    if sum(p.real for p in train) < 2:
        raise SourceError(
            "The trigger needs at least two labelled real sessions to choose a threshold.",
            "Add labelled traces (events with help_needed).",
        )
    best: tuple[float, Config, np.ndarray, np.ndarray] | None = None
    crit: dict[str, float] = {}
    for cfg in grid:
        s, y = _inner_oof(cfg, train)
        crit[cfg.name] = round(auc(s, y), 4)
        if best is None or crit[cfg.name] > best[0] + 1e-12:
            best = (crit[cfg.name], cfg, s, y)
    assert best is not None
    _, cfg, s, y = best
    return Selection(cfg, best_threshold(s, y), platt(s, y), crit)


def fit_model(train: Sequence[Prepared], meta: dict[str, Any] | None = None) -> TriggerModel:
    """The whole procedure on ``train``: select, then refit the winner on every training session."""
    sel = select(train)
    weights, bias = _fit(sel.config, train)
    info = {
        "config": sel.config.name,
        "inner_auc_by_config": sel.inner_auc,
        "trained_on": [p.name for p in train if p.real or sel.config.sim_weight > 0],
        "min_support": MIN_SUPPORT,
        "max_false_alarm": MAX_FALSE_ALARM,
        **(meta or {}),
    }
    a, b = sel.calibration
    return TriggerModel(weights, bias, sel.threshold, a, b, VERSION, info)


def loso(
    sessions: Sequence[Session],
    held_out: Sequence[str],
    on_fold: Callable[[str], None] | None = None,
) -> dict[str, TriggerModel]:
    """For each held-out session name, the model the procedure trains without it (nor its copies)."""
    data = prepare(sessions)
    by_name = {p.name: p for p in data}
    out = {}
    for name in held_out:
        held = by_name[name].session
        train = [p for p in data if p.name != name and not same_events(p.session, held)]
        out[name] = fit_model(train, {"held_out": name})
        if on_fold is not None:
            on_fold(name)
    return out
