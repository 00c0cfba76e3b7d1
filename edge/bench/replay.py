"""Replaying traces through the real loop: one `Hub` per trace, each event through ``loop.step``.

The one replay behind `proactive replay` and `proactive demo` (one trace into a
given store), `proactive eval` (each trace in its own fresh store and window,
one shared model) and ``scripts/bench_loop.py``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from edge.config import Settings
from edge.hub import Hub
from edge.llm import LLM
from edge.records import Decision
from edge.sources.trace import Trace
from edge.trigger.model import TriggerModel

OnDecision = Callable[[Decision], None]


def replay(
    settings: Settings,
    trace: Trace,
    db_path: Path,
    *,
    llm: LLM | None = None,
    use_gate: bool = True,
    max_events: int | None = None,
    on_decision: OnDecision | None = None,
    trigger_model: TriggerModel | None = None,
) -> list[Decision]:
    """The first ``max_events`` (None: all) events of ``trace`` through a fresh hub on ``db_path``.

    ``llm`` None loads the configured model (and closes it after); pass one to share it.
    ``trigger_model`` replaces the configured trigger (e.g. one retrained without ``trace``).
    Raises `ConfigError`, `ModelError` or `StoreError` when a part cannot start.
    """
    decisions: list[Decision] = []
    with Hub(settings, db_path=db_path, llm=llm, use_gate=use_gate, trigger_model=trigger_model) as hub:
        for obs in trace.observations[:max_events]:
            d = hub.loop.step(obs)
            decisions.append(d)
            if on_decision is not None:
                on_decision(d)
    return decisions


def replay_each(
    traces: Sequence[Trace],
    settings: Settings,
    llm: LLM,
    *,
    use_gate: bool = True,
    max_events: int | None = None,
    on_decision: OnDecision | None = None,
    trigger_models: Mapping[str, TriggerModel] | None = None,
) -> Iterator[list[Decision]]:
    """`replay` of each trace in turn, each into its own temporary store; yields each trace's decisions
    as soon as that trace is done (one shared ``llm``, which the caller closes). ``trigger_models``
    gives a trace (by name) its own trigger model, e.g. one retrained without it."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, trace in enumerate(traces):
            yield replay(
                settings,
                trace,
                Path(tmp) / f"{i}.db",
                llm=llm,
                use_gate=use_gate,
                max_events=max_events,
                on_decision=on_decision,
                trigger_model=(trigger_models or {}).get(trace.name),
            )
