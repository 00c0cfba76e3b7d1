"""The memory stream (Generative Agents): records in SQLite, a FAISS index, retrieval, reflection.

`open_memory` is the factory (the hub, the commands and the dashboard use it);
`edge.memory.stream.MemoryStream` is the class. The room's SQL is in
`edge.store.memory`; ``prompts`` holds what is said to the model, ``reflection``
the insights and plans, ``retrieval`` the score, ``index`` FAISS.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.clock import Clock, SystemClock
from edge.config import Settings, store_path
from edge.encoder import OnnxEmbedder
from edge.llm import LLM
from edge.memory.stream import MemoryStream, index_path_for
from edge.ports import Embedder
from edge.store import Store

__all__ = ["MemoryStream", "open_memory"]


def open_memory(
    settings: Settings,
    store: Store | None = None,
    clock: Clock | None = None,
    llm: LLM | None = None,
    embedder: Embedder | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> MemoryStream:
    """The memory stream with its FAISS index file beside the store's database.

    ``store`` None opens the configured data store (closed again by the
    stream's ``close()``); ``embedder`` None loads the shipped MiniLM ONNX
    model; ``llm`` None disables LLM importance, reflection and ``ask``.
    Raises `ModelError` or `StoreError`.
    """
    own = store is None
    opened = Store.open(store_path()) if store is None else store
    try:
        return MemoryStream(
            opened,
            embedder if embedder is not None else OnnxEmbedder(),
            settings.memory,
            clock or SystemClock(),
            llm,
            index_path_for(opened),
            count_tokens,
            owns_store=own,
        )
    except BaseException:
        if own:
            opened.close()
        raise
