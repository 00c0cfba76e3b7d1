"""What the hub does with the user's answer to a proposal.

Every answer moves the desktop's trigger offset (`edge.trigger.online`:
bounded, halving every ``decay_half_life_s``), so the trigger learns when
this user welcomes help. Besides:

* accepted -> the offset rises a little and the task is carried out: the LLM
  writes the help (an answer, a snippet, a summary or a checklist) from the
  task, the desktop's recent activity and the memory's context; it is stored
  (``results``) and returned for the hub to publish on the desktop's
  ``result`` topic. The added minimum interval is halved.
* rejected -> the offset falls, and tasks similar to the rejected one (a
  `Similarity`: embedding cosine with the hub's shared encoder, token-set
  Jaccard without one) are suppressed on that desktop for ``reject_cooldown_s``.
* ignored (no answer before ``expires_at``; the companion says so, and the hub
  decides it itself ``expiry_grace_s`` later when the desktop is gone) -> the
  offset falls further and the minimum interval between proposals grows
  (bounded, halving every ``decay_half_life_s``).

One verdict per proposal: the first one recorded wins and is applied once; a
later answer to the same proposal (another message id, another device, the
hub's own expiry) is logged and ignored.

Every adaptation is a row in ``adaptations``; the per-desktop state is in
``feedback_state`` and is shown by ``proactive status --json`` (the SQL is in
`edge.store.feedback`). The loop learns the current state through
`FeedbackManager.adaptation`, the callable it is given. This room publishes
nothing: `FeedbackManager.handle` returns a `VerdictApplied` with the result
to send, and the hub sends it. Time comes from the injected `Clock`. Handlers
run on the hub's loop thread (the LLM is not thread-safe).
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any

from edge.clock import Clock
from edge.config import FeedbackSettings
from edge.errors import EdgeError, StoreError
from edge.llm import LLM, Message
from edge.ports import ContextProvider, Similarity
from edge.records import Adaptation, HelpResult, VerdictApplied, feedback_id, stable_id
from edge.similarity import JaccardSimilarity
from edge.store import Store
from edge.store.feedback import AdaptState, FeedbackStore
from edge.trigger.online import OnlineRule, OnlineState

log = logging.getLogger(__name__)
RESULT_KINDS = ("answer", "snippet", "summary", "checklist")


def online_rule(settings: FeedbackSettings) -> OnlineRule:
    """The trigger's online update rule with the configured steps (`edge.trigger.online`)."""
    return OnlineRule(
        accepted_step=settings.accepted_trigger_step,
        rejected_step=-settings.rejected_trigger_step,
        ignored_step=-settings.ignored_trigger_step,
        bound=settings.max_trigger_offset,
        half_life_s=settings.decay_half_life_s,
    )


# ---------------------------------------------------------------- the manager


def result_kind(task: str) -> str:
    """Which kind of help a task asks for: snippet, summary, checklist or answer."""
    t = task.lower()
    if re.search(r"\b(code|snippet|function|script|command|regex|sql|bash|python|implement|fix)\b", t):
        return "snippet"
    if re.search(r"\b(summar\w*|recap|overview|tl;?dr|digest)\b", t):
        return "summary"
    if re.search(r"\b(checklist|steps|plan|to-?do|list|outline)\b", t):
        return "checklist"
    return "answer"


_KIND_ASK = {
    "snippet": "Write the code snippet or command, with one line saying how to use it.",
    "summary": "Write a short summary as 3-5 bullet points.",
    "checklist": "Write a short checklist, one step per line starting with '- [ ]'.",
    "answer": "Write a short, concrete answer.",
}


class FeedbackManager:
    """Turns verdicts into results, suppressions and bounded, decaying raises (see module doc).

    ``llm`` may be None for read-only use (``proactive status``).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: FeedbackSettings,
        llm: LLM | None = None,
        memory: ContextProvider | None = None,
        similarity: Similarity | None = None,
    ) -> None:
        self.store = store
        self.tables = FeedbackStore(store)
        self.clock = clock
        self.settings = settings
        self.llm = llm
        self.memory = memory
        self.similarity = similarity or JaccardSimilarity()
        self.rule = online_rule(settings)
        self._next_sweep = 0.0

    # ------------------------------------------------------------ state
    def _decay(self, state: AdaptState | None, now: float) -> tuple[float, float]:
        """The trigger offset and the extra interval of ``state`` decayed to ``now``."""
        if state is None:
            return 0.0, 0.0
        offset = self.rule.current(OnlineState(state.trigger_offset, state.updated_at), now)
        f = 0.5 ** (max(0.0, now - state.updated_at) / self.settings.decay_half_life_s)
        return offset, state.interval_extra_s * f

    def adaptation(self, desktop: str) -> Adaptation:
        """What ``desktop``'s answers ask of the loop now (the callable the hub gives the `Loop`)."""
        offset, extra = self._decay(self.tables.state(desktop), self.clock.now())
        return Adaptation(offset, extra, partial(self.suppressed, desktop))

    def _adapt(self, prop: dict[str, Any], verdict: str, now: float, extra_step: float) -> None:
        """Move the desktop's trigger offset by the verdict; change its extra interval; log both."""
        desktop = prop["desktop"]
        offset, extra = self._decay(self.tables.state(desktop), now)
        new = self.rule.update(OnlineState(offset, now), verdict, now).offset
        extra = min(self.settings.max_interval_extra_s, max(0.0, extra + extra_step))
        self.tables.save_state(desktop, new, extra, now)
        detail = {"trigger_offset": round(new, 4), "interval_extra_s": extra}
        self._log(desktop, prop["id"], verdict, "trigger", detail)

    def _log(self, desktop: str, proposal_id: str, verdict: str, kind: str, detail: dict[str, Any]) -> None:
        self.tables.log_adaptation(
            stable_id("adaptation", proposal_id, kind),
            desktop,
            proposal_id,
            verdict,
            kind,
            detail,
            self.clock.now(),
        )

    # ------------------------------------------------------------ suppression
    def suppressed(self, desktop: str, task: str) -> bool:
        """True when ``task`` is similar to a task rejected on ``desktop`` within the cool-down."""
        rejected = self.tables.suppressed_tasks(desktop, self.clock.now())
        if not rejected:
            return False
        threshold = self.settings.reject_similarity
        if threshold is None:
            threshold = self.similarity.threshold
        best = max(self.similarity.scores(task, rejected))
        if best >= threshold:
            log.info(
                "feedback: %r suppressed on %s (similarity %.2f to a rejected task)", task, desktop, best
            )
            return True
        return False

    # ------------------------------------------------------------ verdicts
    def handle(self, payload: dict[str, Any]) -> VerdictApplied | None:
        """Apply one feedback payload (already validated). Returns what was applied, None if dropped."""
        pid, desktop, verdict = payload["proposal_id"], payload["desktop"], payload["verdict"]
        prop = self.store.get_proposal(pid)
        if prop is None:
            log.warning("feedback: dropped %s for unknown proposal %s", verdict, pid)
            return None
        if prop["desktop"] != desktop:
            log.warning(
                "feedback: dropped %s from %s for a proposal sent to %s", verdict, desktop, prop["desktop"]
            )
            return None
        return self._record(prop, verdict, payload["id"])

    def expire_pending(self, force: bool = False) -> list[VerdictApplied]:
        """Mark proposals unanswered past expiry (+ grace) as ignored; at most once a second."""
        now = self.clock.now()
        if not force and now < self._next_sweep:
            return []
        self._next_sweep = now + 1.0
        applied = []
        for prop in self.store.pending_expired_before(now - self.settings.expiry_grace_s):
            done = self._record(prop, "ignored", feedback_id(prop["id"]))
            if done is not None:
                applied.append(done)
        return applied

    def _record(self, prop: dict[str, Any], verdict: str, feedback_id: str) -> VerdictApplied | None:
        """Record and apply ``verdict`` unless the proposal already has one: the first verdict wins,
        a later one (another id, another device) is logged and ignored."""
        now = self.clock.now()
        try:
            if not self.store.add_feedback(feedback_id, prop["id"], verdict, prop["desktop"], now):
                first = self.store.get_proposal(prop["id"]) or prop
                log.warning(
                    "feedback: ignored %s for %s from %s: already answered %s (the first verdict wins)",
                    verdict,
                    prop["id"],
                    prop["desktop"],
                    first.get("status"),
                )
                return None
        except StoreError as e:
            log.warning("feedback: dropped %s for %s: %s", verdict, prop["id"], e.msg)
            return None
        result = None
        if verdict == "accepted":
            result = self._on_accepted(prop, now)
        elif verdict == "rejected":
            self._on_rejected(prop, now)
        else:
            self._on_ignored(prop, now)
        return VerdictApplied(prop["id"], prop["desktop"], verdict, result)

    def _on_ignored(self, prop: dict[str, Any], now: float) -> None:
        self._adapt(prop, "ignored", now, self.settings.ignored_interval_step_s)

    def _on_rejected(self, prop: dict[str, Any], now: float) -> None:
        self._adapt(prop, "rejected", now, 0.0)
        until = now + self.settings.reject_cooldown_s
        self.tables.suppress(
            stable_id("suppression", prop["id"]), prop["desktop"], prop["task"], prop["id"], until, now
        )
        self._log(prop["desktop"], prop["id"], "rejected", "suppress", {"task": prop["task"], "until": until})

    def _on_accepted(self, prop: dict[str, Any], now: float) -> HelpResult:
        desktop = prop["desktop"]
        _, extra = self._decay(self.tables.state(desktop), now)
        self._adapt(prop, "accepted", now, -extra / 2)  # help is welcome again: halve the extra interval
        kind, text = self.execute(prop)
        result = HelpResult(prop["id"], desktop, prop["task"], kind, text, now)
        self.store.add_result(stable_id("result", prop["id"]), result)
        self._log(desktop, prop["id"], "accepted", "result", {"kind": kind, "chars": len(text)})
        return result

    # ------------------------------------------------------------ carrying out a task
    def messages_for(self, prop: dict[str, Any], kind: str) -> list[Message]:
        """The prompt that makes the LLM write the help for an accepted proposal."""
        window = self.store.recent_observations(prop["desktop"], limit=8)
        events = "\n".join(f"- [{o.time}] {o.text}" for o in window) or "- (none recorded)"
        context = ""
        if self.memory is not None and window:
            try:
                ctx = self.memory.context_for(window)
                if ctx.memories:
                    context = "\nWhat you remember about the user:\n" + "\n".join(
                        f"- {m}" for m in ctx.memories
                    )
            except EdgeError as e:
                log.info("feedback: no memory context: %s", e.msg)
        system = (
            "You are a private assistant running on the user's own computer. The user accepted your "
            "offer of help. Do the task now: be concrete, brief and correct; no preamble."
        )
        user = f"Task: {prop['task']}\nRecent activity:\n{events}{context}\n\n{_KIND_ASK[kind]}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def execute(self, prop: dict[str, Any]) -> tuple[str, str]:
        """``(kind, text)``: the help for ``prop``. A model failure becomes an apologetic text, logged."""
        kind = result_kind(prop["task"] or "")
        if self.llm is None:
            return kind, ""
        try:
            text = self.llm.chat(self.messages_for(prop, kind), max_tokens=self.settings.result_max_tokens)
        except EdgeError as e:
            log.error("feedback: the model could not carry out %r: %s", prop["task"], e.msg)
            return "answer", f"Sorry, I could not do this now ({e.msg})."
        return kind, text.strip()

    # ------------------------------------------------------------ reporting
    def status(self) -> dict[str, Any]:
        """Per-desktop raises (decayed to now), active suppressions, recent adaptations."""
        now = self.clock.now()
        desktops = {}
        for desktop, st in self.tables.states().items():
            offset, extra = self._decay(st, now)
            desktops[desktop] = {
                "trigger_offset": round(offset, 4),
                "interval_extra_s": round(extra, 1),
                "updated_at": st.updated_at,
            }
        supp = [
            {"desktop": x.desktop, "task": x.task, "until": x.until}
            for x in self.tables.active_suppressions(now)
        ]
        return {
            "desktops": desktops,
            "suppressions": supp,
            "verdicts": self.store.verdict_counts(),
            "recent": self.tables.recent_adaptations(20),
        }
