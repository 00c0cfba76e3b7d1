"""Fixtures for the memory stream: a fake clock and streams over the hashed bag-of-words embedder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.config import MemoryIndexSettings, MemorySettings
from edge.memory.stream import MemoryStream, index_path_for
from edge.store import Store
from tests.doubles import FakeClock, HashEmbedder

MODELS = Path(__file__).resolve().parents[2] / "models" / "minilm"


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
