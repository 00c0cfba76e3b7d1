"""The protocols the rooms meet at: each backend is one of these, passed in through a constructor.

Every protocol has one real implementation (named in its docstring) and, for
unit tests, a small in-memory double in ``tests/doubles.py``. Nothing here
imports a backend, so any room may depend on this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from edge.records import Decision, Observation, PromptContext


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (len(texts), dim).

    Real: `edge.encoder.OnnxEmbedder` (MiniLM on onnxruntime).
    """

    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (any length, batched internally); an empty input gives shape (0, dim)."""
        ...


class Similarity(Protocol):
    """How alike two task texts are, in [0, 1]; ``threshold`` is this measure's "similar" default.

    Real: `edge.similarity.EmbeddingSimilarity` (MiniLM cosine), `edge.similarity.JaccardSimilarity`.
    """

    name: str
    threshold: float

    def scores(self, text: str, others: Sequence[str]) -> list[float]: ...


class ActivitySource(Protocol):
    """Yields new observations, in order, each at most once per call.

    ``fetch`` returns what is new since the previous call (possibly nothing)
    and raises `edge.errors.SourceError` when the source is unreachable or
    malformed. ``exhausted`` is True once a finite source (a trace) has
    nothing more to give; live sources are never exhausted. ``commit`` makes
    what was fetched so far durable (checkpoints); call it before stopping,
    or the last batch is delivered again (with the same ids) on the next start.

    Real: `edge.sources.activitywatch.ActivityWatchSource`,
    `edge.sources.trace.TraceSource`, the hub's MQTT link.
    """

    name: str

    def fetch(self) -> list[Observation]: ...

    def commit(self) -> None: ...

    @property
    def exhausted(self) -> bool: ...


class Gate(Protocol):
    """The cheap judge in front of the LLM (real: `edge.gate.RewardGate`, the ONNX reward model).

    ``silence_score`` is P(staying silent is right) for the window;
    ``task_scores`` is P(the task is a welcome proposal) for each task. The
    loop calls the LLM only when ``silence_score < silence_threshold`` and
    proposes a task only when its score is ``>= task_threshold``.
    """

    silence_threshold: float
    task_threshold: float

    def silence_score(self, window: Sequence[Observation]) -> float: ...

    def task_scores(self, window: Sequence[Observation], tasks: Sequence[str]) -> list[float]: ...


class ProposalSink(Protocol):
    """Receives each proposal the loop makes (the MQTT link to a desktop, the console)."""

    def send(self, decision: Decision) -> None: ...


class ContextProvider(Protocol):
    """Supplies memory context for a prompt (real: `edge.memory.stream.MemoryStream`)."""

    def context_for(self, window: Sequence[Observation]) -> PromptContext: ...

    def remember(self, obs: Observation) -> None: ...
