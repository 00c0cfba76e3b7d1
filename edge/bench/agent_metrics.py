"""ProactiveBench agent metrics, per event, exactly as published.

For each event the outcome is one of TP, FP, TN, FN. Two judges fill them:

* timing (`timing_outcome`): the human ``help_needed`` label. A proposal where
  help was needed is TP, where it was not FP; silence where help was needed is
  FN, where it was not TN. Events without a label are skipped.
* the reward model (`judged_outcome`): a proposal the judge accepts is TP,
  one it rejects FP; silence the judge finds right is TN, wrong FN.

Then recall = TP/(TP+FN), precision = TP/(TP+FP), accuracy =
(TP+TN)/all, false alarm = FP/(TP+FP), F1 = 2PR/(P+R). A ratio whose
denominator is zero is reported as 0.0 (e.g. precision of an agent that never
proposes), so that all-silent and empty traces still give numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["TP", "FP", "TN", "FN"]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.lower(), getattr(self, outcome.lower()) + 1)

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Confusion:
        c = cls()
        for o in outcomes:
            c.add(o)
        return c

    @property
    def events(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    def metrics(self) -> dict[str, float | int]:
        precision = _ratio(self.tp, self.tp + self.fp)
        recall = _ratio(self.tp, self.tp + self.fn)
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "accuracy": _ratio(self.tp + self.tn, self.events),
            "false_alarm": _ratio(self.fp, self.tp + self.fp),
            "events": self.events,
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
        }


def timing_outcome(proposed: bool, help_needed: bool | None) -> Outcome | None:
    """Outcome against the human label; None when the event has no label."""
    if help_needed is None:
        return None
    if proposed:
        return "TP" if help_needed else "FP"
    return "FN" if help_needed else "TN"


def judged_outcome(proposed: bool, judged_valid: bool) -> Outcome:
    """Outcome under a judge: ``judged_valid`` is the judge's verdict on what the agent did."""
    if proposed:
        return "TP" if judged_valid else "FP"
    return "TN" if judged_valid else "FN"
