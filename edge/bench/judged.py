"""ProactiveBench agent evaluation under a reward-model judge.

`judge_decisions` applies the published rule per event: a proposal the judge
accepts is TP, one it rejects FP; silence the judge finds right is TN, wrong
FN (see `edge.bench.agent_metrics`). ``eval bench`` feeds it our loop's
decisions; ``eval judge`` feeds it other agents' responses from upstream
traces, so that every agent is compared under one judge.

Caveat: when our loop is gated by the same reward model that judges it, its
proposals all pass the judge's task threshold and its silences the silence
threshold, so ``eval bench`` measures mostly the LLM's silence choices. Use a
different judge model (``--judge-model``) for an independent score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from edge.bench.agent_metrics import Confusion, judged_outcome
from edge.reward import RewardModel


def tasks_of(agent_response: Any) -> list[str]:
    """The proposed tasks in an upstream ``agent_response`` (list or single; dicts or strings)."""
    items = agent_response if isinstance(agent_response, list) else [agent_response]
    out: list[str] = []
    for item in items:
        task = item.get("Proactive Task") if isinstance(item, dict) else item
        if isinstance(task, str) and task.strip() and task.strip().lower() not in {"null", "none"}:
            out.append(task.strip())
    return out


def judge_event(
    judge: RewardModel,
    window: Sequence[dict[str, str]],
    tasks: Sequence[str],
    silence_threshold: float,
    task_threshold: float,
) -> str:
    """TP/FP/TN/FN for one event: the agent proposed ``tasks`` (none means silence)."""
    if tasks:
        best = max(judge.score_many(window, list(tasks)))
        return judged_outcome(True, best >= task_threshold)
    return judged_outcome(False, judge.score(window, None) >= silence_threshold)


def judge_traces(
    judge: RewardModel,
    traces: Iterable[tuple[str, Sequence[dict[str, str]], Sequence[Sequence[str]]]],
    silence_threshold: float,
    task_threshold: float,
    window: int = 10,
) -> dict[str, Any]:
    """``traces``: (name, events, tasks proposed at each event). Returns the metrics + per trace."""
    total = Confusion()
    per_trace = []
    for name, events, proposals in traces:
        conf = Confusion()
        for i, tasks in enumerate(proposals):
            outcome = judge_event(
                judge, events[max(0, i + 1 - window) : i + 1], tasks, silence_threshold, task_threshold
            )
            conf.add(outcome)  # type: ignore[arg-type]
            total.add(outcome)  # type: ignore[arg-type]
        per_trace.append({"trace": name, **conf.metrics()})
    return {**total.metrics(), "traces": len(per_trace), "per_trace": per_trace}
