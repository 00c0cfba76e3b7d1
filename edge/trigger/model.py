"""The trigger's model file: a linear model over `features.FEATURES`, stored as JSON.

``logit = features @ weights + bias`` (the input standardisation is folded
into the weights); the trigger fires when ``logit (+ the desktop's online
offset) >= threshold``. ``p_help = sigmoid(calib_a * logit + calib_b)`` is
the calibrated probability shown to people (Platt scaling fitted on
out-of-fold scores; it does not change any decision). The file is a few kB,
loads in well under a millisecond and needs nothing beyond numpy, so the
honest per-session retraining of ``proactive eval timing --loso`` runs on a
plain install.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.assets import models_dir
from edge.errors import ModelError
from edge.trigger.features import FEATURES

FORMAT = "proactive-trigger/1"
_HINT = "Reinstall, or retrain with `proactive trigger train --out FILE` and set trigger.model_path."


def default_model_path() -> Path:
    """The shipped model, ``models/trigger.json``."""
    return models_dir() / "trigger.json"


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class TriggerModel:
    """A trained trigger: weights in raw feature units, bias, decision threshold (a logit).

    ``calib_a``/``calib_b`` map a logit to a calibrated P(help now);
    ``meta`` keeps what training recorded (configuration, data, scores).
    """

    weights: np.ndarray
    bias: float
    threshold: float
    calib_a: float = 1.0
    calib_b: float = 0.0
    version: str = "trigger"
    meta: dict[str, Any] = field(default_factory=dict)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits for feature rows ``x`` of shape (n, len(FEATURES))."""
        return np.asarray(x, dtype=np.float64).reshape(-1, len(FEATURES)) @ self.weights + self.bias

    def p_help(self, logit: float) -> float:
        """The calibrated probability that help is needed now."""
        return sigmoid(self.calib_a * logit + self.calib_b)

    @property
    def p_threshold(self) -> float:
        """The threshold as a calibrated probability."""
        return self.p_help(self.threshold)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "features": list(FEATURES),
            "weights": {n: float(w) for n, w in zip(FEATURES, self.weights, strict=True) if w != 0.0},
            "bias": self.bias,
            "threshold_logit": self.threshold,
            "calibration": {"a": self.calib_a, "b": self.calib_b},
            "meta": self.meta,
        }

    def save(self, path: Path) -> None:
        """Write the model file (parent folders created). Raises `ModelError` when it cannot."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", "utf-8")
        except OSError as e:
            raise ModelError(f"Cannot write the trigger model {path}: {e}", "Check the folder.") from e


def keyword_model() -> TriggerModel:
    """The one-line baseline as a trigger: speak when the event matches ``search|error|stack ?overflow``.

    Fires exactly when the keyword rule does (weight 1 on ``kw``, threshold 0.5);
    P(help) is 0.88 on a match and 0.12 otherwise.
    """
    weights = np.zeros(len(FEATURES))
    weights[FEATURES.index("kw")] = 1.0
    return TriggerModel(weights, 0.0, 0.5, 4.0, -2.0, "keyword-rule", {"config": "keyword rule"})


def model_from_json(data: Any, where: str = "trigger model") -> TriggerModel:
    """A `TriggerModel` from the parsed file. Raises `ModelError` naming what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{where} is not a trigger model ({FORMAT}).", _HINT)
    try:
        names = list(data["features"])
        if names != list(FEATURES):
            raise ModelError(f"{where} was trained on other features than this version computes.", _HINT)
        weights = np.zeros(len(FEATURES))
        for name, w in dict(data["weights"]).items():
            weights[FEATURES.index(name)] = float(w)
        calib = dict(data.get("calibration") or {})
        model = TriggerModel(
            weights=weights,
            bias=float(data["bias"]),
            threshold=float(data["threshold_logit"]),
            calib_a=float(calib.get("a", 1.0)),
            calib_b=float(calib.get("b", 0.0)),
            version=str(data.get("version", "trigger")),
            meta=dict(data.get("meta") or {}),
        )
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{where} is malformed ({type(e).__name__}: {e}).", _HINT) from e
    values = [model.bias, model.threshold, model.calib_a, model.calib_b, *model.weights.tolist()]
    if not all(math.isfinite(v) for v in values):
        raise ModelError(f"{where} holds a number that is not finite.", _HINT)
    return model


def load_trigger(path: Path | None = None) -> TriggerModel:
    """Read a trigger model file (default: the shipped one). Raises `ModelError` when missing or corrupt."""
    path = path or default_model_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ModelError(f"The trigger model {path} is missing.", _HINT) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"Cannot read the trigger model {path}: {e}", _HINT) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelError(f"The trigger model {path} is not valid JSON ({e.msg}).", _HINT) from e
    return model_from_json(data, str(path))
