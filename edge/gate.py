"""The reward-model gate in front of the LLM (see `edge.loop.Gate`).

Adapts `edge.reward.RewardModel` (which scores ProactiveBench event windows)
to the loop's `Gate` protocol (which speaks `Observation`s). Thresholds come
from the model's calibrated metadata unless the settings override them.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.config import RewardSettings
from edge.ports import Embedder
from edge.records import Observation
from edge.reward import OnnxRewardModel, RewardModel


class RewardGate:
    """P(silence is right) and P(task is welcome) from the reward model."""

    def __init__(
        self,
        model: RewardModel,
        silence_threshold: float | None = None,
        task_threshold: float | None = None,
    ) -> None:
        self.model = model
        self.silence_threshold = model.silence_threshold if silence_threshold is None else silence_threshold
        self.task_threshold = model.task_threshold if task_threshold is None else task_threshold

    def silence_score(self, window: Sequence[Observation]) -> float:
        return self.model.score([o.to_event() for o in window], None)

    def task_scores(self, window: Sequence[Observation], tasks: Sequence[str]) -> list[float]:
        return self.model.score_many([o.to_event() for o in window], list(tasks))


def make_reward_gate(settings: RewardSettings, embedder: Embedder | None = None) -> RewardGate:
    """The shipped (or configured) reward model as a gate. Raises `ModelError` when it cannot load."""
    model = OnnxRewardModel(
        settings.model_path, embedder, threads=settings.threads, cache_size=settings.cache_size
    )
    return RewardGate(model, settings.silence_threshold, settings.task_threshold)
