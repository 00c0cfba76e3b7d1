"""The hub's loop: observation in, decision out.

For each new observation: give it its structure (parsed from the sentence
when the source gave none), store it, and ask the trigger (`edge.trigger`)
whether help is due now. Only then does the LLM run, to word one task about
the window's *anchor* (`edge.grounding`: the query, error, page or file). A
task that is unusable, loops, misses the anchor, repeats a proposal made on
the desktop within ``repeat_window_s`` or resembles a rejected one is
replaced by the anchor's deterministic template, or by silence when that too
was proposed already. The reward model scores what is left and vetoes a
clearly bad task. Proposals go to the store and to every `ProposalSink` (the
MQTT relay, the console), stamped with their ``created_at`` and
``expires_at``; their id derives from the observation alone, so re-deciding
an observation never proposes twice for it.

What the user's answers taught (`edge.feedback`) reaches the loop through the
``adaptation`` callable it is given: per desktop, the trigger's online
offset, a longer minimum interval, and tasks suppressed after a rejection.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from edge.agent import Agent
from edge.clock import Clock
from edge.config import RelaySettings
from edge.errors import ModelError, SourceError
from edge.grounding import anchor_of, task_problem, template_task
from edge.ports import ActivitySource, ContextProvider, Gate, ProposalSink, Similarity
from edge.records import NO_ADAPTATION, Adaptation, AgentResponse, Decision, Observation, stable_id
from edge.similarity import JaccardSimilarity
from edge.sources.sentences import parse
from edge.store import Store
from edge.trigger.runtime import Trigger

log = logging.getLogger(__name__)

DEFAULT_PROPOSAL_TTL_S: float = RelaySettings.model_fields["proposal_ttl_s"].default
"""The configured default (``relay.proposal_ttl_s``), for loops built without settings."""


@dataclass(frozen=True)
class _Proposed:
    """A recent proposal on a desktop, for the repeat check: its task, anchor key and clock time."""

    task: str
    anchor: str
    at: float


class Loop:
    """Decides, per observation, to propose or stay silent. Not thread-safe: one loop per hub.

    Timing is the trigger's: without ``trigger`` the LLM runs on every event
    and may itself choose silence (the old behaviour, kept for comparisons).
    ``gate`` (the reward model) scores the candidate task (the LLM's, or the
    anchor's template standing in for it; the best if there are several) and
    vetoes it under ``veto_threshold``. ``adaptation(desktop)``
    (None: no adaptation) gives the trigger's online offset, the extra
    interval between proposals and which tasks are suppressed after a
    rejection. ``similarity`` tells a repeat: a task within ``repeat_window_s``
    of a proposal on the same desktop that scores at least its threshold
    (cosine 0.8 with embeddings), or the same anchor.
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
        trigger: Trigger | None = None,
        similarity: Similarity | None = None,
        veto_threshold: float = 0.0,
        repeat_window_s: float = 1800.0,
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
        self.trigger = trigger
        self.similarity = similarity or JaccardSimilarity()
        self.veto_threshold = veto_threshold
        self.repeat_window_s = repeat_window_s
        self._windows: dict[str, deque[Observation]] = {}
        self._last_proposal: dict[str, float] = {}
        self._recent: dict[str, list[_Proposed]] = {}

    def _window_for(self, obs: Observation) -> deque[Observation]:
        win = self._windows.get(obs.desktop)
        if win is None:
            win = deque(maxlen=self.window)
            self._windows[obs.desktop] = win
        if not win or win[-1].id != obs.id:
            win.append(obs)
        return win

    def observe(self, obs: Observation) -> list[Observation]:
        """Record ``obs`` (store, memory, windows) without deciding; return the loop's window."""
        if self.store is not None:
            self.store.add_observation(obs, self.clock.now())
        if self.memory is not None:
            self.memory.remember(obs)
        if self.trigger is not None:
            self.trigger.note(obs)
        return list(self._window_for(obs))

    def recall(self, desktop: str, task: str, anchor_key: str = "") -> None:
        """Count a proposal made before (e.g. before a resume) in ``desktop``'s repeat check."""
        self._recent_for(desktop).append(_Proposed(task, anchor_key, self.clock.now()))

    def step(self, obs: Observation) -> Decision:
        """Decide for one observation. Model failures of the LLM mean silence, never an exception."""
        t0 = time.perf_counter()
        if obs.activity is None:
            obs = replace(obs, activity=parse(obs.text))
        window = self.observe(obs)
        adapt = self.adaptation(obs.desktop) if self.adaptation is not None else NO_ADAPTATION
        d = Decision(observation=obs, proposed=False, task=None, score=None, latency_ms=0.0)
        self._decide(d, window, adapt)
        d.latency_ms = (time.perf_counter() - t0) * 1000
        if d.proposed:
            # stamped after the LLM ran, so generation time does not eat the proposal's TTL
            self._publish(d, self.clock.now())
        return d

    def _decide(self, d: Decision, window: list[Observation], adapt: Adaptation) -> None:
        obs = d.observation
        if self.trigger is not None:
            t = self.trigger.assess(obs, adapt.trigger_offset)
            d.p_help, d.p_threshold = t.p_help, t.p_threshold
            if not t.fire:
                d.reason = "trigger: help unlikely now"
                return
        proposal_id = stable_id("proposal", obs.id)
        if self.store is not None and self.store.get_proposal(proposal_id) is not None:
            d.reason = "already proposed for this event"
            return
        last = self._last_proposal.get(obs.desktop)
        if last is not None and self.clock.now() - last < self.min_interval_s + adapt.interval_extra_s:
            d.reason = "resting: too soon after the last proposal"
            return
        if self.trigger is not None:
            d.anchor = anchor_of(window)
            if d.anchor is None:  # every proposal is grounded in what the structure names
                d.reason = "nothing named to help with (no query, error, page or file)"
                return
        context = self.memory.context_for(window) if self.memory is not None else None
        d.llm_called = True
        try:
            if self.trigger is not None:
                d.response = self.agent.phrase(window, d.anchor, context)
            else:
                d.response = self.agent.respond(window, context)
        except ModelError as e:
            # One unusable generation (e.g. JSON cut off at max_tokens) must not stop the hub.
            log.warning("LLM output unusable for %s: %s", obs.id, e.msg)
        if self.trigger is None and (d.response is None or not d.response.task):
            d.reason = "LLM output unusable" if d.response is None else "LLM chose silence"
            return
        candidates, why = self._candidates(d, adapt)
        if not candidates:
            d.reason = why
            return
        scores: list[float | None] = [None] * len(candidates)
        if self.gate is not None:
            scores = list(self.gate.task_scores(window, candidates))
        d.candidates = list(zip(candidates, scores, strict=True))
        best = self._best(d.candidates)
        if best is None:
            d.reason = f"vetoed: every task scored under {self.veto_threshold:.2f}"
            return
        d.proposed, d.task, d.score = True, best[0], best[1]
        d.template = d.anchor is not None and best[0] == template_task(d.anchor)
        if d.template:
            # The LLM's own words were about another task; offer the template plainly.
            purpose = d.response.purpose if d.response is not None else ""
            offer = f"Want me to {best[0][0].lower()}{best[0][1:].rstrip('.')}?"
            d.response = AgentResponse(purpose, "", best[0], offer)
        d.proposal_id = proposal_id
        d.reason = f"template ({why})" if d.template else "LLM task"

    def _candidates(self, d: Decision, adapt: Adaptation) -> tuple[list[str], str]:
        """The tasks that may be proposed: the LLM's if it passes the checks, else the anchor's template."""
        recent = self._recent_for(d.observation.desktop)
        llm_task = d.response.task if d.response is not None else None
        problem = "LLM output unusable" if d.response is None else task_problem(llm_task, d.anchor)
        if problem is None and llm_task is not None:
            if d.anchor is not None and any(p.anchor == d.anchor.key() for p in recent):
                problem = "same anchor as a recent proposal"
            elif self._repeats(llm_task, recent):
                problem = "repeats a recent proposal"
            elif adapt.suppressed(llm_task):
                problem = "like a task the user rejected"
        if problem is None and llm_task is not None:
            return [llm_task], ""
        if d.anchor is None:
            return [], f"{problem}; no anchor for a template"
        template = template_task(d.anchor)
        if self._repeats(template, recent) or adapt.suppressed(template):
            return [], f"{problem}; its template was proposed already"
        return [template], problem or ""

    def _repeats(self, task: str, recent: list[_Proposed]) -> bool:
        if not recent:
            return False
        low = task.lower().strip()
        if any(p.task.lower().strip() == low for p in recent):
            return True
        scores = self.similarity.scores(task, [p.task for p in recent])
        return max(scores) >= self.similarity.threshold

    def _best(self, scored: list[tuple[str, float | None]]) -> tuple[str, float | None] | None:
        kept = [(t, s) for t, s in scored if s is None or s >= self.veto_threshold]
        if not kept:
            return None
        return max(kept, key=lambda ts: -1.0 if ts[1] is None else ts[1])

    def _recent_for(self, desktop: str) -> list[_Proposed]:
        """Proposals on ``desktop`` within the repeat window (read from the store once per desktop)."""
        now = self.clock.now()
        recent = self._recent.get(desktop)
        if recent is None:
            recent = []
            if self.store is not None:
                for row in self.store.recent_proposals(desktop, now - self.repeat_window_s):
                    key = row.anchor.key() if row.anchor is not None else ""
                    recent.append(_Proposed(row.task, key, row.created_at))
            self._recent[desktop] = recent
        recent[:] = [p for p in recent if now - p.at <= self.repeat_window_s]
        return recent

    def _publish(self, decision: Decision, now: float) -> None:
        assert decision.proposal_id is not None and decision.task is not None
        decision.created_at, decision.expires_at = now, now + self.proposal_ttl_s
        desktop = decision.observation.desktop
        self._last_proposal[desktop] = now
        self.recall(desktop, decision.task, decision.anchor.key() if decision.anchor is not None else "")
        if self.store is not None:
            assert decision.response is not None
            self.store.add_proposal(
                decision.proposal_id,
                decision.observation,
                decision.response,
                decision.score,
                now,
                self.proposal_ttl_s,
                latency_ms=decision.latency_ms,
                anchor=decision.anchor,
                p_help=decision.p_help,
                template=decision.template,
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
