"""Fixtures for the memory stream: a hashed bag-of-words embedder, a fake clock, streams."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.clock import FakeClock
from edge.config import MemoryIndexSettings, MemorySettings
from edge.memory.stream import MemoryStream, index_path_for
from edge.store import Store

MODELS = Path(__file__).resolve().parents[2] / "models" / "minilm"


class HashEmbedder:
    """Deterministic embedder double: hashed bag of lower-case words, L2-normalised.

    Texts sharing words are similar; texts sharing none have cosine 0.
    """

    name = "hash-bow"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            if n:
                out[i] /= n
        return out


class FixedEmbedder:
    """Returns vectors from a table (text -> vector), for hand-computed scores."""

    name = "fixed"

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = {k: np.asarray(v, np.float32) for k, v in table.items()}
        self.dim = len(next(iter(self.table.values())))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


def settings(**kw: Any) -> MemorySettings:
    index = kw.pop("index", {})
    base: dict[str, Any] = {"recent_pool": 0, "reflect_in_remember": False}
    base.update(kw)
    return MemorySettings(**base, index=MemoryIndexSettings(**index))


@pytest.fixture
def make_stream(clock: FakeClock, tmp_path: Path) -> Callable[..., MemoryStream]:
    """Build a stream; ``file=True`` uses an on-disk store (and so an index file)."""

    def make(
        embedder: Any = None, file: bool = False, llm: Any = None, store: Store | None = None, **kw: Any
    ) -> MemoryStream:
        if store is None:
            store = Store.open(tmp_path / "p.db") if file else Store.memory()
        return MemoryStream(
            store,
            embedder or HashEmbedder(),
            settings(**kw),
            clock,
            llm=llm,
            index_path=index_path_for(store),
        )

    return make
