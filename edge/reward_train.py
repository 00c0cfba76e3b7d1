"""Training, cross-validation and ONNX export of the reward head (`edge.reward`).

Training-only dependencies (scikit-learn, onnx; the optional ``train`` extra)
are imported inside the functions that need them, so that this module imports
without them. The encoder is the shipped MiniLM ONNX model (frozen); only the
head is trained:

1. a help model: logistic regression from the window vector (the last three
   events joined, plus the timestamp-gap features of `edge.reward.CONTEXT`) to
   the row's ``help_needed`` label, fitted on every row (silence and task rows alike), so
   that silence is judged with all the data: P(silence valid) = 1 - P(help);
2. a task model: logistic regression from the 11 scalars of `edge.reward.SCALARS`
   plus the help model's out-of-fold P(help), fitted on the task rows,
   class-balanced;
3. thresholds for silence and for tasks, each the one that maximises balanced
   agreement (mean of the two category agreements) on out-of-fold scores.

Evaluation is trace-grouped (a trace is known by its first event's text and
time; all rows of a trace stay in one fold), leave-one-trace-out, with the
thresholds chosen inside each training split (nested), so the reported
metrics never see the held-out trace. ``help_needed``, ``annotation`` and
``category`` are labels or weights, never inputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.encoder import OnnxEmbedder
from edge.errors import EdgeError
from edge.ports import Embedder
from edge.reward import (
    CONTEXT,
    FEATURE_VERSION,
    JOIN_EVENTS,
    SCALARS,
    WINDOW_EVENTS,
    EmbeddingCache,
    featurize,
)
from edge.reward_metrics import category_code, reward_metrics

SEED = 0
Tick = Callable[[str, int, int], None]


class DataError(EdgeError):
    """A reward-rows file is missing or malformed."""

    title = "Data error"


@dataclass
class Rows:
    """Parsed reward rows; labels kept apart from what the model may see."""

    obs: list[list[dict[str, str]]]
    tasks: list[str | None]
    valid: np.ndarray
    help_needed: np.ndarray | None
    categories: list[str] | None
    agreement: np.ndarray
    groups: np.ndarray

    def __len__(self) -> int:
        return len(self.tasks)


def load_rows(path: Path, *, need_labels: bool = True) -> Rows:
    """Read a ProactiveBench reward JSONL file; `DataError` names the file and line on bad input."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(f"{path}: no such file.", "Pass a reward rows .jsonl file with --data.") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e}).", "Check the file and its permissions.") from e
    obs, tasks, valid, helps, cats, agree, keys = [], [], [], [], [], [], []
    hint = 'Each line is a JSON object with "obs" [{"time","event"}...], "pred_task" and "valid".'
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            o = row["obs"]
            if not isinstance(o, list) or not o:
                raise ValueError('"obs" must be a non-empty list')
            window = [{"time": str(x["time"]), "event": str(x["event"])} for x in o]
            task = row.get("pred_task")
            if task is not None and not isinstance(task, str):
                raise ValueError('"pred_task" must be a string or null')
            if need_labels and not isinstance(row["valid"], bool):
                raise ValueError('"valid" must be true or false')
            cat = row.get("category")
            if cat is not None:
                category_code(cat)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
            raise DataError(f"{path}:{n}: malformed row: {what}", hint) from e
        obs.append(window)
        tasks.append(task or None)
        valid.append(bool(row.get("valid", False)))
        helps.append(row.get("help_needed"))
        cats.append(cat)
        ann = row.get("annotation") or []
        if ann:
            majority = sum(bool(a) for a in ann) * 2 > len(ann)
            agree.append(sum(bool(a) == majority for a in ann) / len(ann))
        else:
            agree.append(1.0)
        keys.append((window[0]["event"], window[0]["time"]))
    if not obs:
        raise DataError(f"{path}: no rows.", hint)
    ids: dict[tuple[str, str], int] = {}
    groups = np.array([ids.setdefault(k, len(ids)) for k in keys])
    have_help = all(isinstance(h, bool) for h in helps)
    have_cat = all(c is not None for c in cats)
    return Rows(
        obs=obs,
        tasks=tasks,
        valid=np.array(valid, dtype=bool),
        help_needed=np.array(helps, dtype=bool) if have_help else None,
        categories=[str(c) for c in cats] if have_cat else None,
        agreement=np.array(agree),
        groups=groups,
    )


def build_features(
    rows: Rows, embedder: Embedder, tick: Tick | None = None, opt: Options | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Window vectors and scalars for every row (rows sharing a window share the cache)."""
    opt = opt or Options()
    cache = EmbeddingCache(embedder, max_items=1_000_000)
    wins, scs = [], []
    for i, (o, t) in enumerate(zip(rows.obs, rows.tasks, strict=True)):
        w, s = featurize(cache, o, [t], opt.window_events, opt.join_events)
        wins.append(w[0])
        scs.append(s[0])
        if tick:
            tick("features", i + 1, len(rows))
    return np.stack(wins), np.stack(scs)


# ------------------------------------------------------------------ the head


@dataclass
class HeadParams:
    """The trained head in closed form (standardisation folded into the weights)."""

    w_help: np.ndarray  # (dim,)
    b_help: float
    w_task: np.ndarray  # (len(SCALARS) + 1,): scalars then p_help
    b_task: float
    silence_threshold: float = 0.5
    task_threshold: float = 0.5
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Options:
    """Knobs of the head; the defaults are the shipped configuration."""

    c_help: float = 0.01
    c_task: float = 0.1
    annotation_weight: float = 0.0  # 0: ignore; 1: weight rows by annotator agreement
    window_events: int = WINDOW_EVENTS
    join_events: int = JOIN_EVENTS


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _logreg(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Standardised L2 logistic regression; returns weights and bias in raw feature space."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - the optional train extra

    mu = x.mean(0)
    sd = x.std(0)
    sd[sd < 1e-8] = 1.0
    m = LogisticRegression(C=c, max_iter=5000, random_state=SEED)
    m.fit((x - mu) / sd, y, sample_weight=w)
    coef = m.coef_[0] / sd
    return coef, float(m.intercept_[0] - np.sum(coef * mu))


def _balanced(y: np.ndarray) -> np.ndarray:
    p = y.mean()
    if p in (0.0, 1.0):
        return np.ones(len(y))
    return np.where(y, 0.5 / p, 0.5 / (1 - p))


def _help_oof(
    win: np.ndarray, help_y: np.ndarray, groups: np.ndarray, train: np.ndarray, opt: Options
) -> np.ndarray:
    """Out-of-fold P(help) for the rows in ``train`` (leave one trace out inside ``train``)."""
    out = np.full(len(help_y), np.nan)
    for g in np.unique(groups[train]):
        tr = train & (groups != g)
        te = train & (groups == g)
        w, b = _logreg(win[tr], help_y[tr], _balanced(help_y[tr]), opt.c_help)
        out[te] = _sigmoid(win[te] @ w + b)
    return out


def _fit(
    win: np.ndarray,
    sc: np.ndarray,
    valid: np.ndarray,
    help_y: np.ndarray,
    agreement: np.ndarray,
    groups: np.ndarray,
    train: np.ndarray,
    opt: Options,
) -> tuple[HeadParams, np.ndarray]:
    """Fit the head on the rows in ``train``; also return inner out-of-fold P(valid) for them."""
    w_h, b_h = _logreg(win[train], help_y[train], _balanced(help_y[train]), opt.c_help)
    ph = _help_oof(win, help_y, groups, train, opt)
    isnull = sc[:, 0] > 0.5
    xt = np.column_stack([sc, ph])
    tt = train & ~isnull
    aw = 1.0 - opt.annotation_weight * (1.0 - agreement)
    w_t, b_t = _logreg(xt[tt], valid[tt], _balanced(valid[tt]) * aw[tt], opt.c_task)
    inner = np.full(len(valid), np.nan)
    inner[train & isnull] = 1.0 - ph[train & isnull]
    for g in np.unique(groups[tt]):
        tr = tt & (groups != g)
        te = tt & (groups == g)
        w, b = _logreg(xt[tr], valid[tr], _balanced(valid[tr]) * aw[tr], opt.c_task)
        inner[te] = _sigmoid(xt[te] @ w + b)
    params = HeadParams(w_help=w_h, b_help=b_h, w_task=w_t, b_task=b_t)
    params.silence_threshold = best_threshold(inner[train & isnull], valid[train & isnull])
    params.task_threshold = best_threshold(inner[tt], valid[tt])
    return params, inner


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The cut (midpoint between scores) that maximises balanced agreement (mean of TPR and TNR)."""
    if len(p) == 0 or y.all() or not y.any():
        return 0.5
    u = np.unique(p)
    cuts = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    pos, neg = y.sum(), (~y).sum()
    best, best_cut = -1.0, 0.5
    for c in cuts:
        pred = p >= c
        ba = 0.5 * ((pred & y).sum() / pos + (~pred & ~y).sum() / neg)
        if ba > best + 1e-12:
            best, best_cut = ba, float(c)
    return best_cut


def predict(params: HeadParams, win: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """P(valid) in numpy, the same computation as the exported ONNX graph."""
    ph = _sigmoid(win @ params.w_help + params.b_help)
    pt = _sigmoid(np.column_stack([sc, ph]) @ params.w_task + params.b_task)
    return np.where(sc[:, 0] > 0.5, 1.0 - ph, pt)


def decide(params: HeadParams, p: np.ndarray, sc: np.ndarray) -> np.ndarray:
    isnull = sc[:, 0] > 0.5
    return np.where(isnull, p >= params.silence_threshold, p >= params.task_threshold)


def cross_validate(
    rows: Rows, win: np.ndarray, sc: np.ndarray, opt: Options, tick: Tick | None = None
) -> dict[str, Any]:
    """Leave-one-trace-out CV with nested threshold choice; the ProactiveBench metrics."""
    if rows.help_needed is None or rows.categories is None:
        raise DataError("Cross-validation needs help_needed and category on every row.", "")
    help_y = rows.help_needed
    oof = np.zeros(len(rows))
    pred = np.zeros(len(rows), dtype=bool)
    traces = np.unique(rows.groups)
    for i, g in enumerate(traces):
        train = rows.groups != g
        te = ~train
        params, _ = _fit(win, sc, rows.valid, help_y, rows.agreement, rows.groups, train, opt)
        oof[te] = predict(params, win[te], sc[te])
        pred[te] = decide(params, oof[te], sc[te])
        if tick:
            tick("cross-validation", i + 1, len(traces))
    m = reward_metrics(rows.valid.tolist(), pred.tolist(), rows.categories)
    m["traces"] = int(len(traces))
    m["folds"] = "leave-one-trace-out, thresholds chosen inside each training split"
    try:
        from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - the optional train extra

        isnull = sc[:, 0] > 0.5
        m["auc_silence"] = float(roc_auc_score(rows.valid[isnull], oof[isnull]))
        m["auc_task"] = float(roc_auc_score(rows.valid[~isnull], oof[~isnull]))
    except ValueError:
        pass
    return m


def fit_final(rows: Rows, win: np.ndarray, sc: np.ndarray, opt: Options) -> HeadParams:
    if rows.help_needed is None:
        raise DataError("Training needs help_needed on every row.", "Use ProactiveBench reward rows.")
    train = np.ones(len(rows), dtype=bool)
    params, _ = _fit(win, sc, rows.valid, rows.help_needed, rows.agreement, rows.groups, train, opt)
    return params


# ------------------------------------------------------------------ export


def export_onnx(params: HeadParams, out: Path, metadata: dict[str, Any]) -> None:
    """Write the head as a tiny ONNX graph: (window, scalars) -> (p_valid, p_help)."""
    import onnx  # noqa: PLC0415 - the optional train extra
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    n_sc = len(SCALARS)
    dim = len(params.w_help)
    e0 = np.zeros((n_sc, 1), dtype=np.float32)
    e0[0, 0] = 1.0
    inits = [
        numpy_helper.from_array(params.w_help.astype(np.float32).reshape(dim, 1), "w_help"),
        numpy_helper.from_array(np.array([params.b_help], dtype=np.float32), "b_help"),
        numpy_helper.from_array(params.w_task.astype(np.float32).reshape(n_sc + 1, 1), "w_task"),
        numpy_helper.from_array(np.array([params.b_task], dtype=np.float32), "b_task"),
        numpy_helper.from_array(e0, "null_selector"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("MatMul", ["window", "w_help"], ["zh0"]),
        helper.make_node("Add", ["zh0", "b_help"], ["zh"]),
        helper.make_node("Sigmoid", ["zh"], ["ph"]),
        helper.make_node("Concat", ["scalars", "ph"], ["xt"], axis=1),
        helper.make_node("MatMul", ["xt", "w_task"], ["zt0"]),
        helper.make_node("Add", ["zt0", "b_task"], ["zt"]),
        helper.make_node("Sigmoid", ["zt"], ["pt"]),
        helper.make_node("MatMul", ["scalars", "null_selector"], ["isnull"]),
        helper.make_node("Sub", ["one", "ph"], ["psil"]),
        helper.make_node("Sub", ["psil", "pt"], ["diff"]),
        helper.make_node("Mul", ["isnull", "diff"], ["adj"]),
        helper.make_node("Add", ["pt", "adj"], ["pv"]),
        helper.make_node("Reshape", ["pv", "flat"], ["p_valid"]),
        helper.make_node("Reshape", ["ph", "flat"], ["p_help"]),
    ]
    graph = helper.make_graph(
        nodes,
        "reward_head",
        [
            helper.make_tensor_value_info("window", TensorProto.FLOAT, ["n", dim]),
            helper.make_tensor_value_info("scalars", TensorProto.FLOAT, ["n", n_sc]),
        ],
        [
            helper.make_tensor_value_info("p_valid", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("p_help", TensorProto.FLOAT, ["n"]),
        ],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="proactive-edge"
    )
    model.ir_version = 8
    meta = {
        "feature_version": FEATURE_VERSION,
        "silence_threshold": params.silence_threshold,
        "task_threshold": params.task_threshold,
        "encoder": "models/minilm/model.onnx (all-MiniLM-L6-v2 int8, shared with the memory)",
        "scalars": list(SCALARS),
        **metadata,
    }
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key = k
        entry.value = v if isinstance(v, str) else json.dumps(v)
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


def train(
    data: Path,
    out: Path,
    *,
    embedder: Embedder | None = None,
    opt: Options | None = None,
    cv: bool = True,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Cross-validate, fit on all rows, export ``out``; returns the report (metrics, thresholds)."""
    try:
        import onnx  # noqa: F401, PLC0415 - is the optional train extra installed?
        import sklearn  # noqa: F401, PLC0415
    except ImportError as e:
        raise EdgeError(
            f"Training needs the `train` extra ({e.name} is missing).",
            "pip install -e '.[train]'",
        ) from e
    opt = opt or Options()
    rows = load_rows(data)
    if embedder is None:
        embedder = OnnxEmbedder()
    win, sc = build_features(rows, embedder, tick, opt)
    report: dict[str, Any] = {"rows": len(rows), "options": opt.__dict__.copy()}
    if cv:
        report["cv"] = cross_validate(rows, win, sc, opt, tick)
    params = fit_final(rows, win, sc, opt)
    report["silence_threshold"] = params.silence_threshold
    report["task_threshold"] = params.task_threshold
    meta = {
        "options": opt.__dict__,
        "window_events": opt.window_events,
        "join_events": opt.join_events,
        "context": list(CONTEXT),
        "trained_on": Path(data).name,
        "rows": len(rows),
    }
    if cv:
        meta["cv"] = {k: v for k, v in report["cv"].items() if k != "folds"}
    export_onnx(params, out, meta)
    report["model"] = str(out)
    report["bytes"] = Path(out).stat().st_size
    return report


def evaluate(rows: Rows, scorer: Any, tick: Tick | None = None) -> dict[str, Any]:
    """The ProactiveBench metrics of a `RewardModel` on labelled rows, using its thresholds."""
    if rows.categories is None:
        raise DataError("Evaluation needs a category on every row.", "Use ProactiveBench reward rows.")
    pred = []
    for i, (o, t) in enumerate(zip(rows.obs, rows.tasks, strict=True)):
        p = scorer.score(o, t)
        pred.append(p >= (scorer.silence_threshold if t is None else scorer.task_threshold))
        if tick:
            tick("scoring", i + 1, len(rows))
    return reward_metrics(rows.valid.tolist(), pred, rows.categories)
