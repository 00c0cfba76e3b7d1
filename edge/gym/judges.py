"""The reward model as the gym's judge (cheap, no LLM call per verdict)."""

from __future__ import annotations

from collections.abc import Sequence

from edge.config import Settings
from edge.gate import make_reward_gate
from edge.reward import RewardModel


class RewardJudge:
    """Accepts a task when the reward model scores it at least ``task_threshold``;
    help is needed when silence scores below ``silence_threshold``."""

    name = "reward"

    def __init__(
        self, model: RewardModel, silence_threshold: float | None = None, task_threshold: float | None = None
    ) -> None:
        self.model = model
        self.silence_threshold = model.silence_threshold if silence_threshold is None else silence_threshold
        self.task_threshold = model.task_threshold if task_threshold is None else task_threshold

    @classmethod
    def from_settings(cls, settings: Settings) -> RewardJudge:
        """The configured reward model, with the thresholds the settings give (or the model's)."""
        gate = make_reward_gate(settings.reward)
        return cls(gate.model, gate.silence_threshold, gate.task_threshold)

    @staticmethod
    def _events(recent: Sequence[str]) -> list[dict[str, str]]:
        return [{"time": "", "event": e} for e in recent]

    def accepts(self, recent: Sequence[str], task: str) -> bool:
        return self.model.score(self._events(recent), task) >= self.task_threshold

    def needs_help(self, recent: Sequence[str]) -> bool:
        return self.model.score(self._events(recent), None) < self.silence_threshold
