"""The Generative Agents retrieval score, as a pure function.

score = w_recency * recency + w_importance * importance + w_relevance * relevance

where, over the candidate set, each component is min-max normalised to [0, 1]
(a component that is equal for every candidate becomes 0.5, as in the paper's
code), recency = decay ** (hours since last access), importance is the 1-10
rating and relevance is the cosine similarity of the embeddings.
`Retrieved` pairs a stored record with its score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.store.memory import Memory


@dataclass(frozen=True)
class Candidate:
    """A record's raw inputs to the score."""

    id: int
    last_accessed: float
    importance: float
    relevance: float


@dataclass(frozen=True)
class Scored:
    """A candidate with its normalised components and weighted score."""

    id: int
    score: float
    recency: float
    importance: float
    relevance: float
    raw_recency: float
    raw_relevance: float


@dataclass(frozen=True)
class Weights:
    recency: float = 1.0
    importance: float = 1.0
    relevance: float = 1.0


def minmax(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector becomes all 0.5."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 1e-12:
        return np.full_like(v, 0.5)
    return (v - lo) / (hi - lo)


def recency(last_accessed: np.ndarray, now: float, decay: float) -> np.ndarray:
    """decay ** hours since last access (never more than 1 for future timestamps)."""
    hours = np.maximum(0.0, (now - np.asarray(last_accessed, dtype=np.float64)) / 3600.0)
    return np.power(decay, hours)


def score(candidates: Sequence[Candidate], now: float, weights: Weights, decay: float) -> list[Scored]:
    """All candidates, best first (ties: the newer id first)."""
    if not candidates:
        return []
    rec_raw = recency(np.array([c.last_accessed for c in candidates]), now, decay)
    rel_raw = np.array([c.relevance for c in candidates], dtype=np.float64)
    rec = minmax(rec_raw)
    imp = minmax(np.array([c.importance for c in candidates], dtype=np.float64))
    rel = minmax(rel_raw)
    total = weights.recency * rec + weights.importance * imp + weights.relevance * rel
    out = [
        Scored(
            c.id,
            float(total[i]),
            float(rec[i]),
            float(imp[i]),
            float(rel[i]),
            float(rec_raw[i]),
            float(rel_raw[i]),
        )
        for i, c in enumerate(candidates)
    ]
    out.sort(key=lambda s: (-s.score, -s.id))
    return out


@dataclass
class Retrieved:
    """A retrieved record with the parts of its score."""

    memory: Memory
    scored: Scored

    @property
    def record(self) -> Memory:
        return self.memory

    @property
    def score(self) -> float:
        return self.scored.score

    def to_json(self) -> dict[str, Any]:
        s = self.scored
        return {
            **self.memory.to_json(),
            "score": round(s.score, 4),
            "recency": round(s.recency, 4),
            "importance_norm": round(s.importance, 4),
            "relevance": round(s.relevance, 4),
            "cosine": round(s.raw_relevance, 4),
        }
