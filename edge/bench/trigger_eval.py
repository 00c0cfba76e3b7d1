"""When-to-speak evaluation without the LLM: trivial baselines, the trigger alone, honest retraining,
and the simulated user's answers.

* `baseline_rows`: per event, what *always propose*, *never propose*, the *keyword rule*
  (``search|error|stack ?overflow``) and the trigger decide, each scored
  against the human ``help_needed`` labels in the same run.
* `loso_models`: the trigger retrained without each held-out trace (and
  without any copy of it), with its threshold chosen inside the training
  split (`edge.trigger.train.loso`): scores that never saw the trace.
* `feedback_replay`: the traces in time order as one user's days on one
  desktop; a simulated user accepts a proposal when ``help_needed`` is true
  and rejects it otherwise; the trigger's online offset (`edge.trigger.online`)
  learns from those answers only (never from an event it stayed silent on).
  Scored with and without the answers, in the same run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edge.bench.agent_metrics import Confusion, timing_outcome
from edge.records import Observation
from edge.sources.trace import Trace, observation_seconds
from edge.trigger.features import KEYWORD
from edge.trigger.model import TriggerModel
from edge.trigger.online import OnlineRule, OnlineState
from edge.trigger.runtime import Trigger
from edge.trigger.train import loso, session_of

ModelFor = Callable[[str], TriggerModel]


def score(traces: Sequence[Trace], predictions: Sequence[Sequence[bool]]) -> dict[str, Any]:
    """Timing metrics of per-event predictions against the labels, pooled and per trace."""
    total = Confusion()
    per_trace = []
    for trace, preds in zip(traces, predictions, strict=True):
        conf = Confusion()
        for o, p in zip(trace.observations, preds, strict=True):
            outcome = timing_outcome(p, o.help_needed)
            if outcome is not None:
                conf.add(outcome)
                total.add(outcome)
        per_trace.append({"trace": trace.name, **conf.metrics()})
    return {**total.metrics(), "proposals": sum(sum(p) for p in predictions), "per_trace": per_trace}


def always(traces: Sequence[Trace], propose: bool = True) -> list[list[bool]]:
    """Propose at every event (``propose=False``: never)."""
    return [[propose] * len(t.observations) for t in traces]


def keyword(traces: Sequence[Trace]) -> list[list[bool]]:
    return [[bool(KEYWORD.search(o.text)) for o in t.observations] for t in traces]


def trigger_fires(
    traces: Sequence[Trace], model_for: ModelFor, session_gap_s: float = 1800.0
) -> list[list[bool]]:
    """The trigger alone on each trace, a fresh window per trace, with ``model_for(trace.name)``."""
    out = []
    for t in traces:
        trig = Trigger(model_for(t.name), session_gap_s)
        out.append([trig.assess(o).fire for o in t.observations])
    return out


def baseline_rows(traces: Sequence[Trace], model_for: ModelFor) -> dict[str, dict[str, Any]]:
    """always / never / keyword / trigger, scored on ``traces`` in one run."""
    return {
        "always": score(traces, always(traces)),
        "never": score(traces, always(traces, propose=False)),
        "keyword": score(traces, keyword(traces)),
        "trigger": score(traces, trigger_fires(traces, model_for)),
    }


def loso_models(
    pool: Sequence[Trace], held_out: Sequence[str], on_fold: Callable[[str], None] | None = None
) -> dict[str, TriggerModel]:
    """For each held-out trace name, the trigger trained on the other labelled traces of ``pool``."""
    sessions = [s for s in map(session_of, pool) if s.labelled]
    known = {s.name for s in sessions}
    missing = [n for n in held_out if n not in known]
    if missing:
        raise ValueError(f"not fully labelled, cannot be held out: {', '.join(missing)}")
    return loso(sessions, held_out, on_fold)


def _start(trace: Trace) -> float:
    for o in trace.observations:
        t = observation_seconds(o)
        if t is not None:
            return t
    return float("inf")


def in_time_order(traces: Sequence[Trace]) -> list[Trace]:
    """Traces ordered by their first known time (then by name): one user's days."""
    return sorted(traces, key=lambda t: (_start(t), t.name))


def _time(o: Observation, last: float) -> float:
    t = observation_seconds(o)
    return last if t is None else max(t, last)


def feedback_replay(
    traces: Sequence[Trace], model_for: ModelFor, rule: OnlineRule, session_gap_s: float = 1800.0
) -> dict[str, Any]:
    """The traces in time order on one desktop, with and without the simulated user's answers.

    Returns ``{"order", "without", "with", "per_session": [{trace, f1_without, f1_with, ...}],
    "answers": {"accepted", "rejected"}}``.
    """
    ordered = in_time_order(traces)
    without = trigger_fires(ordered, model_for, session_gap_s)
    with_fb: list[list[bool]] = []
    state, now = OnlineState(), 0.0
    answers = {"accepted": 0, "rejected": 0}
    for t in ordered:
        trig = Trigger(model_for(t.name), session_gap_s)
        preds = []
        for o in t.observations:
            now = _time(o, now)
            fired = trig.assess(o, rule.current(state, now)).fire
            preds.append(fired)
            if fired and o.help_needed is not None:  # an answer only to the trigger's own proposal
                verdict = "accepted" if o.help_needed else "rejected"
                answers[verdict] += 1
                state = rule.update(state, verdict, now)
        with_fb.append(preds)
    a, b = score(ordered, without), score(ordered, with_fb)
    per_session = [
        {
            "trace": x["trace"],
            "f1_without": x["f1"],
            "f1_with": y["f1"],
            "false_alarm_without": x["false_alarm"],
            "false_alarm_with": y["false_alarm"],
        }
        for x, y in zip(a["per_trace"], b["per_trace"], strict=True)
    ]
    return {
        "order": [t.name for t in ordered],
        "without": {k: v for k, v in a.items() if k != "per_trace"},
        "with": {k: v for k, v in b.items() if k != "per_trace"},
        "gain_f1": b["f1"] - a["f1"],
        "per_session": per_session,
        "answers": answers,
    }


def model_lookup(models: Mapping[str, TriggerModel], default: TriggerModel | None) -> ModelFor:
    """``model_for`` from per-trace models (LOSO), falling back to ``default`` (the shipped one)."""

    def model_for(name: str) -> TriggerModel:
        if name in models:
            return models[name]
        if default is None:
            raise KeyError(name)
        return default

    return model_for
