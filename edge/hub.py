"""The one factory that assembles the hub from settings.

`Hub` owns the long-lived parts (store, LLM, gate, memory, relay) and closes
them in ``close()``. Commands build one `Hub` and use its `loop`; tests build
`Loop` directly from doubles instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from edge.agent import Agent
from edge.clock import Clock, SystemClock
from edge.config import Settings, store_path
from edge.llm import LLM, make_llm
from edge.loop import Loop
from edge.ports import ContextProvider, Gate, ProposalSink
from edge.store import Store

if TYPE_CHECKING:
    from edge.ports import Embedder


class Hub:
    """Store + LLM + agent + gate + loop, built once from `Settings`.

    ``db_path`` None uses the configured data directory; ``llm`` may be
    passed in (tests, benchmarks that share one loaded model).
    Raises `ConfigError`, `ModelError` or `StoreError` when a part cannot start.
    """

    def __init__(
        self,
        settings: Settings,
        db_path: Path | None = None,
        clock: Clock | None = None,
        llm: LLM | None = None,
        sinks: Iterable[ProposalSink] = (),
        use_gate: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.store = Store.open(db_path or store_path())
        self._own_llm = llm is None
        self.llm = llm or make_llm(settings.llm)
        # One MiniLM encoder in process, shared by the memory and the reward gate.
        self.embedder: Embedder | None = None
        if use_gate or settings.memory.enabled:
            from edge.encoder import OnnxEmbedder

            self.embedder = OnnxEmbedder(threads=settings.reward.threads)
        self.gate: Gate | None = None
        if use_gate:
            from edge.gate import make_reward_gate

            self.gate = make_reward_gate(settings.reward, self.embedder)
        self.memory: ContextProvider | None = None
        if settings.memory.enabled:
            from edge.memory import open_memory

            self.memory = open_memory(
                settings,
                self.store,
                self.clock,
                llm=self.llm,
                embedder=self.embedder,
                count_tokens=getattr(self.llm, "count_tokens", None),
            )
        self.agent = Agent(self.llm, window=settings.agent.window, max_tokens=settings.llm.max_tokens)
        self.loop = Loop(
            self.agent,
            self.clock,
            store=self.store,
            gate=self.gate,
            memory=self.memory,
            sinks=sinks,
            window=settings.agent.window,
            min_interval_s=settings.agent.min_interval_s,
        )

    def close(self) -> None:
        close_memory = getattr(self.memory, "close", None)
        if close_memory is not None:
            close_memory()  # writes the vector index file
        if self._own_llm:
            self.llm.close()
        self.store.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
