"""The memory stream (Generative Agents): records in SQLite, a FAISS index, retrieval, reflection.

`open_memory` is the factory (the hub, the commands and the dashboard use it);
`edge.memory.stream.MemoryStream` is the class. Nothing heavy is imported at
import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.clock import Clock
    from edge.config import Settings
    from edge.llm import LLM
    from edge.memory.stream import Embeds, MemoryStream
    from edge.store import Store


def open_memory(
    settings: Settings,
    store: Store | None = None,
    clock: Clock | None = None,
    llm: LLM | None = None,
    embedder: Embeds | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> MemoryStream:
    """The memory stream with its FAISS index file beside the store's database.

    ``store`` None opens the configured data store (closed again by the
    stream's ``close()``); ``embedder`` None loads the shipped MiniLM ONNX
    model; ``llm`` None disables LLM importance, reflection and ``ask``.
    Raises `ModelError` or `StoreError`.
    """
    from edge.clock import SystemClock
    from edge.config import store_path
    from edge.memory.stream import MemoryStream, index_path_for
    from edge.store import Store

    if embedder is None:
        from edge.encoder import OnnxEmbedder

        embedder = OnnxEmbedder()
    own = store is None
    db = Store.open(store_path()) if store is None else store
    try:
        stream = MemoryStream(
            db, embedder, settings.memory, clock or SystemClock(), llm, index_path_for(db), count_tokens
        )
    except BaseException:
        if own:
            db.close()
        raise
    stream.owns_store = own
    return stream
