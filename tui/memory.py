"""The Memory screen's backend over `edge.memory`'s stream: search, reflections with citations, forget."""

from __future__ import annotations

from edge.clock import Clock
from edge.config import Settings
from edge.errors import EdgeError
from edge.memory import MemoryStream, open_memory
from edge.ports import Embedder
from edge.store import Store
from edge.store.memory import Memory
from tui.ports import MemoryBackend, MemoryHit, Part, Reflection

MEMORY_ABSENT = (
    "Memory is not available: edge/memory (search, reflections, forget) is not installed in this "
    "build. The Live and History screens show the raw observations."
)


def _hit(m: Memory, score: float | None = None) -> MemoryHit:
    return MemoryHit(str(m.id), str(m.kind), str(m.text), score, m.created_at)


class StreamMemory:
    """`MemoryBackend` over `edge.memory.stream.MemoryStream` (UI thread only, like the store)."""

    def __init__(self, stream: MemoryStream) -> None:
        self.stream = stream

    def search(self, query: str, k: int = 20) -> list[MemoryHit]:
        # touch=False: browsing from the dashboard is not the agent recalling, so recency is left alone.
        return [_hit(r.memory, r.scored.score) for r in self.stream.retrieve(query, k, touch=False)]

    def reflections(self, limit: int = 20) -> list[Reflection]:
        return [
            Reflection(str(r.memory.id), r.memory.text, r.memory.created_at, [_hit(c) for c in r.cited])
            for r in self.stream.cited_reflections(limit)
        ]

    def forget(self, match: str) -> int:
        return len(self.stream.forget(match=match))

    def close(self) -> None:
        self.stream.close()


def open_stream_memory(
    settings: Settings, store: Store, clock: Clock, embedder: Embedder | None = None
) -> Part[MemoryBackend]:
    """The memory stream over ``store`` (UI thread: it shares the store's connection), or a note why not.

    ``embedder`` None loads the shipped ONNX model (about 0.3 s).
    """
    try:
        return Part(StreamMemory(open_memory(settings, store, clock, embedder=embedder)))
    except ModuleNotFoundError as e:
        return Part(None, f"{MEMORY_ABSENT} ({e})")
    except EdgeError as e:
        return Part(None, f"{e.msg} {e.hint}".strip())
