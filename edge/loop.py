"""The hub's loop: observation in, decision out.

For each new observation: store it, look at the bounded window of recent
observations of that desktop, ask the cheap gate whether silence is right,
call the LLM only when it is not, score the candidate task, and propose it
when it clears the threshold. Proposals go to the store and to every
`ProposalSink` (the MQTT relay, the console), stamped with their
``created_at`` and ``expires_at``.

What the user's answers taught (`edge.feedback`) reaches the loop through the
``adaptation`` callable it is given: per desktop, a raised task threshold, a
longer minimum interval, and tasks suppressed after a rejection.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from edge.agent import Agent
from edge.clock import Clock
from edge.config import RelaySettings
from edge.errors import ModelError, SourceError
from edge.ports import ActivitySource, ContextProvider, Gate, ProposalSink
from edge.records import NO_ADAPTATION, Adaptation, Decision, Observation, stable_id
from edge.store import Store

log = logging.getLogger(__name__)

DEFAULT_PROPOSAL_TTL_S: float = RelaySettings.model_fields["proposal_ttl_s"].default
"""The configured default (``relay.proposal_ttl_s``), for loops built without settings."""


class Loop:
    """Decides, per observation, to propose or stay silent. Not thread-safe: one loop per hub.

    ``adaptation(desktop)`` (None: no adaptation) is asked once a task is on
    the table; its raise is added to the gate's task threshold (capped at
    0.99), its extra interval to ``min_interval_s``, and a suppressed task
    scores 0.0 and is not proposed.
    """

    def __init__(
        self,
        agent: Agent,
        clock: Clock,
        store: Store | None = None,
        gate: Gate | None = None,
        memory: ContextProvider | None = None,
        sinks: Iterable[ProposalSink] = (),
        window: int = 8,
        min_interval_s: float = 0.0,
        proposal_ttl_s: float = DEFAULT_PROPOSAL_TTL_S,
        adaptation: Callable[[str], Adaptation] | None = None,
    ) -> None:
        self.agent = agent
        self.clock = clock
        self.store = store
        self.gate = gate
        self.memory = memory
        self.sinks = list(sinks)
        self.window = window
        self.min_interval_s = min_interval_s
        self.proposal_ttl_s = proposal_ttl_s
        self.adaptation = adaptation
        self._windows: dict[str, deque[Observation]] = {}
        self._last_proposal: dict[str, float] = {}

    def _window_for(self, obs: Observation) -> deque[Observation]:
        win = self._windows.get(obs.desktop)
        if win is None:
            win = deque(maxlen=self.window)
            self._windows[obs.desktop] = win
        if not win or win[-1].id != obs.id:
            win.append(obs)
        return win

    def observe(self, obs: Observation) -> list[Observation]:
        """Record ``obs`` (store, memory, window) without deciding; return the window."""
        if self.store is not None:
            self.store.add_observation(obs, self.clock.now())
        if self.memory is not None:
            self.memory.remember(obs)
        return list(self._window_for(obs))

    def step(self, obs: Observation) -> Decision:
        """Decide for one observation. Model failures propagate as `ModelError`."""
        t0 = time.perf_counter()
        now = self.clock.now()
        window = self.observe(obs)
        decision = Decision(observation=obs, proposed=False, task=None, score=None, latency_ms=0.0)

        if self.gate is not None:
            silence = self.gate.silence_score(window)
            decision.silence_score = decision.score = silence
            if silence >= self.gate.silence_threshold:
                decision.latency_ms = (time.perf_counter() - t0) * 1000
                return decision

        context = self.memory.context_for(window) if self.memory is not None else None
        try:
            response = self.agent.respond(window, context)
        except ModelError as e:
            # One unusable generation (e.g. JSON cut off at max_tokens) must not stop
            # the hub: stay silent for this event and say why in the log.
            log.warning("LLM output unusable for %s, staying silent: %s", obs.id, e.msg)
            decision.llm_called = True
            decision.latency_ms = (time.perf_counter() - t0) * 1000
            return decision
        decision.response, decision.llm_called = response, True
        if response.task:
            adapt = self.adaptation(obs.desktop) if self.adaptation is not None else NO_ADAPTATION
            task_score = self.gate.task_scores(window, [response.task])[0] if self.gate else None
            suppressed = adapt.suppressed(response.task)
            if suppressed:
                task_score = 0.0
            decision.candidates.append((response.task, task_score))
            cleared = not suppressed and (
                self.gate is None or (task_score is not None and task_score >= self._task_threshold(adapt))
            )
            last = self._last_proposal.get(obs.desktop)
            rested = last is None or now - last >= self.min_interval_s + adapt.interval_extra_s
            if cleared and rested:
                decision.proposed, decision.task = True, response.task
                decision.score = task_score
                decision.proposal_id = stable_id("proposal", obs.id, response.task)
                self._last_proposal[obs.desktop] = now
        decision.latency_ms = (time.perf_counter() - t0) * 1000
        if decision.proposed:
            # stamped after the LLM ran, so generation time does not eat the proposal's TTL
            self._publish(decision, self.clock.now())
        return decision

    def _task_threshold(self, adapt: Adaptation) -> float:
        assert self.gate is not None
        if self.adaptation is None:
            return self.gate.task_threshold
        return min(0.99, self.gate.task_threshold + adapt.threshold_raise)

    def _publish(self, decision: Decision, now: float) -> None:
        assert decision.response is not None and decision.proposal_id is not None
        decision.created_at, decision.expires_at = now, now + self.proposal_ttl_s
        if self.store is not None:
            self.store.add_proposal(
                decision.proposal_id,
                decision.observation,
                decision.response,
                decision.score,
                now,
                self.proposal_ttl_s,
                latency_ms=decision.latency_ms,
            )
        for sink in self.sinks:
            sink.send(decision)

    def run(
        self,
        source: ActivitySource,
        poll_interval_s: float,
        on_decision: Callable[[Decision], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_source_error: Callable[[SourceError], None] | None = None,
    ) -> int:
        """Feed ``source`` through `step` until it is exhausted or ``should_stop()``.

        Source errors are passed to ``on_source_error`` (which may back off)
        and the loop keeps going; without a handler they propagate. Returns the
        number of observations decided.
        """
        n = 0
        while not should_stop():
            try:
                batch = source.fetch()
            except SourceError as e:
                if on_source_error is None:
                    raise
                on_source_error(e)
                continue
            for obs in batch:
                if should_stop():
                    break
                decision = self.step(obs)
                n += 1
                if on_decision is not None:
                    on_decision(decision)
            if source.exhausted:
                break
            if not batch:
                self.clock.sleep(poll_interval_s)
        return n
