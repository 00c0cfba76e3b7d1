"""The trigger at run time: one window per desktop, P(help now) for each new observation.

`Trigger.assess(obs, offset)` appends the observation to its desktop's window
(the same observation again replaces itself, so a redelivered event is not
counted twice), computes the window features and returns a `TriggerResult`.
``offset`` is the desktop's online adaptation (`edge.trigger.online`), added
to the model's logit together with the configured ``trigger.offset``. A gap
of more than ``session_gap_s`` starts a new session (the window is cleared).
Not thread-safe: one trigger per loop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from edge.records import Observation
from edge.sources.trace import observation_seconds
from edge.trigger.features import WINDOW, TriggerEvent, window_features
from edge.trigger.model import TriggerModel


@dataclass(frozen=True)
class TriggerResult:
    """One assessment: the model's logit, the online offset applied, the threshold, calibrated P(help)."""

    logit: float
    offset: float
    threshold: float
    p_help: float
    p_threshold: float

    @property
    def fire(self) -> bool:
        """Speak now: the adapted logit reaches the threshold."""
        return self.logit + self.offset >= self.threshold


@dataclass
class _Window:
    events: deque[TriggerEvent]
    ids: deque[str]
    position: int = 0
    last_t: float | None = None


class Trigger:
    """The when-to-speak model applied per desktop (see module doc)."""

    def __init__(self, model: TriggerModel, session_gap_s: float = 1800.0, offset: float = 0.0) -> None:
        self.model = model
        self.session_gap_s = session_gap_s
        self.offset = offset
        self._windows: dict[str, _Window] = {}

    def _window(self, obs: Observation, t: float | None) -> _Window:
        win = self._windows.get(obs.desktop)
        if win is None or (t is not None and win.last_t is not None and t - win.last_t > self.session_gap_s):
            win = _Window(deque(maxlen=WINDOW), deque(maxlen=WINDOW))
            self._windows[obs.desktop] = win
        return win

    def note(self, obs: Observation) -> None:
        """Add ``obs`` to its desktop's window without scoring it (context, e.g. a resumed session)."""
        t = observation_seconds(obs)
        self._push(self._window(obs, t), obs, t)

    def _push(self, win: _Window, obs: Observation, t: float | None) -> None:
        event = TriggerEvent.of_observation(obs, t)
        if win.ids and win.ids[-1] == obs.id:
            win.events[-1] = event
        else:
            if win.events:
                win.position += 1
            win.events.append(event)
            win.ids.append(obs.id)
        if t is not None:
            win.last_t = t

    def assess(self, obs: Observation, offset: float = 0.0) -> TriggerResult:
        """P(help now) for ``obs`` given its desktop's recent events.

        ``offset`` (the desktop's online adaptation) and the trigger's own
        configured ``offset`` shift the logit.
        """
        offset += self.offset
        t = observation_seconds(obs)
        win = self._window(obs, t)
        self._push(win, obs, t)
        logit = float(self.model.logits(window_features(win.events, win.position))[0])
        return TriggerResult(
            logit=logit,
            offset=offset,
            threshold=self.model.threshold,
            p_help=self.model.p_help(logit + offset),
            p_threshold=self.model.p_threshold,
        )
