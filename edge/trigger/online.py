"""Learning from the user's answers: a bounded, decaying offset on one desktop's trigger logit.

Each answer to a proposal moves the desktop's offset: accepted by
``accepted_step`` (help is welcome: speak up a little more readily),
rejected by ``rejected_step`` and ignored by ``ignored_step`` (both
negative: raise the bar). The offset is clipped to ``[-bound, bound]`` and
halves every ``half_life_s`` seconds without answers, so a bad afternoon is
forgotten by the next day. The trigger fires when ``logit + offset >=
threshold``. Only answers to the trigger's own proposals exist, so the rule
never sees the label of an event it stayed silent on.

Pure: the state is a small value the feedback room persists per desktop
(``feedback_state``) and ``proactive eval timing --feedback`` replays with
trace times. Why these steps are small, and what the honest replay measured,
is in ``models/trigger.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OnlineState:
    """One desktop's offset as of ``updated_at`` (unix seconds)."""

    offset: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class OnlineRule:
    """The update rule; see the module doc. Steps are in logit units."""

    accepted_step: float = 0.25
    rejected_step: float = -0.25
    ignored_step: float = -0.5
    bound: float = 1.5
    half_life_s: float = 3600.0

    def current(self, state: OnlineState, now: float) -> float:
        """The offset decayed to ``now``."""
        dt = max(0.0, now - state.updated_at)
        return state.offset * 0.5 ** (dt / self.half_life_s)

    def update(self, state: OnlineState, verdict: str, now: float) -> OnlineState:
        """The state after one answer (``accepted``, ``rejected`` or ``ignored``) at ``now``."""
        step = {
            "accepted": self.accepted_step,
            "rejected": self.rejected_step,
            "ignored": self.ignored_step,
        }.get(verdict, 0.0)
        offset = max(-self.bound, min(self.bound, self.current(state, now) + step))
        return OnlineState(offset, now)
