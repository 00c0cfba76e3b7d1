"""How alike two task texts are: embedding cosine with the shared encoder, or token Jaccard without one.

Used by the loop (a task too close to a recent proposal is a repeat) and by
the feedback (a task too close to a rejected one is held back). Both measures
implement `edge.ports.Similarity`; `make_similarity` picks one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from edge.ports import Embedder, Similarity

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    ["a", "an", "the", "to", "of", "for", "and", "or", "in", "on", "with", "your", "you", "me", "my"]
    + ["it", "this", "that", "is", "be", "by", "at", "as", "can", "could", "would", "i"]
)


def _tokens(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


class JaccardSimilarity:
    """Token-set Jaccard over lower-cased words without stop words."""

    name = "jaccard"
    threshold = 0.5

    def scores(self, text: str, others: Sequence[str]) -> list[float]:
        a = _tokens(text)
        out = []
        for o in others:
            b = _tokens(o)
            out.append(len(a & b) / len(a | b) if a and b else 0.0)
        return out


class EmbeddingSimilarity:
    """Cosine of the L2-normalised embeddings of an `Embedder`."""

    name = "embedding"
    threshold = 0.8

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def scores(self, text: str, others: Sequence[str]) -> list[float]:
        if not others:
            return []
        vecs = self.embedder.embed([text, *others])
        return [float(v) for v in (vecs[1:] @ vecs[0])]


def make_similarity(embedder: Embedder | None) -> Similarity:
    """Embedding cosine with ``embedder`` (the hub's shared MiniLM), token Jaccard without one."""
    if embedder is None:
        return JaccardSimilarity()
    return EmbeddingSimilarity(embedder)
